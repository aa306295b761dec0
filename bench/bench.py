#!/usr/bin/env python3
"""tdefs benchmark: the same workloads on every target, in rounds, reported as ratios.

    python3 bench/bench.py run                 # normally started by bench/run.sh (as root)
    python3 bench/bench.py report RESULT.json  # regenerate the table, docs/benchmarks.md and the
                                               # plot from a saved result, without running anything

Targets: raw (the backing directory, no FUSE), passthrough (libfuse's passthrough_ll: FUSE without
crypto, its default caching), passthrough-fair (passthrough_ll with the kernel caching tdefs asks
for: the writeback cache, kept page cache, 1 s timeouts; the fair limit), tdefs (default options:
`tdefs init` makes a volume of profile database, which serves no extended attributes),
tdefs-general (a volume of `--profile general`, which keeps user.* ones), gocryptfs, securefs. Each round mounts every
target afresh (fresh backing directory) and runs each workload once on it; the order of targets
rotates from round to round.
Every FUSE target is mounted with allow_other (PostgreSQL runs as the 'postgres' user).

Knobs (environment): see bench/README.md. Python 3 standard library, plus matplotlib for the plot.
"""

import datetime
import io
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MiB = 1 << 20
GiB = 1 << 30
ALL_TARGETS = ["raw", "passthrough", "passthrough-fair", "tdefs", "tdefs-general", "gocryptfs", "securefs"]
# Only when named in BENCH_TARGETS: "tdefs-v1" is a format version 1 volume (docs/format.md), for
# the cost of format 2 (use it with the grow workload); "tdefs-noxattr" is the default volume
# mounted with -o noxattr (before volume profiles, the database recipe).
EXTRA_TARGETS = ["tdefs-v1", "tdefs-noxattr"]
PEERS = ["gocryptfs", "securefs"]
FUSE_TARGETS = ["passthrough", "passthrough-fair", "tdefs", "tdefs-general", "tdefs-noxattr", "tdefs-v1", "gocryptfs", "securefs"]


def log(msg):
    ts = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{ts}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Configuration

def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def load_config():
    quick = os.environ.get("BENCH_QUICK", "") == "1"
    # Full defaults are issue #6's spec; BENCH_QUICK=1 gives a smoke run of a few minutes.
    d = dict(rounds=3, seq_mb=1024, files=10000, fio_seconds=30, fio_size_mb=256,
             pgbench_scale=20, pgbench_seconds=30, sqlite_inserts=10000, grow_mb=256)
    if quick:
        d.update(rounds=1, seq_mb=128, files=1000, fio_seconds=5, fio_size_mb=64,
                 pgbench_scale=2, pgbench_seconds=5, sqlite_inserts=1000, grow_mb=64)
    targets = os.environ.get("BENCH_TARGETS", "") or ",".join(ALL_TARGETS)
    targets = [t.strip() for t in targets.split(",") if t.strip()]
    for t in targets:
        if t not in ALL_TARGETS + EXTRA_TARGETS:
            sys.exit(f"bench: unknown target {t!r} (known: {', '.join(ALL_TARGETS + EXTRA_TARGETS)})")
    workloads = os.environ.get("BENCH_WORKLOADS", "") or "seq,tree,fio,sqlite,pgbench"
    cfg = dict(
        quick=quick,
        rounds=env_int("BENCH_ROUNDS", d["rounds"]),
        seq_mb=env_int("BENCH_SEQ_MB", d["seq_mb"]),
        grow_mb=env_int("BENCH_GROW_MB", d["grow_mb"]),
        files=env_int("BENCH_FILES", d["files"]),
        tree_seed=env_int("BENCH_SEED", 6),
        fio_seconds=env_int("BENCH_FIO_SECONDS", d["fio_seconds"]),
        fio_size_mb=env_int("BENCH_FIO_SIZE_MB", d["fio_size_mb"]),
        pgbench_scale=env_int("BENCH_PGBENCH_SCALE", d["pgbench_scale"]),
        pgbench_clients=env_int("BENCH_PGBENCH_CLIENTS", 4),
        pgbench_threads=env_int("BENCH_PGBENCH_THREADS", 2),
        pgbench_seconds=env_int("BENCH_PGBENCH_SECONDS", d["pgbench_seconds"]),
        pg_port=env_int("BENCH_PG_PORT", 54329),
        sqlite_inserts=env_int("BENCH_SQLITE_INSERTS", d["sqlite_inserts"]),
        # Optional workloads ("cost grows as it should"), off by default.
        big_mb=env_int("BENCH_BIG_MB", 0),            # e.g. 10240: a 10 GiB sequential file
        bigdir_files=env_int("BENCH_BIGDIR_FILES", 0),  # e.g. 100000: lookup/readdir in one dir
        fio2=env_int("BENCH_FIO2", 0),                # 1: fio with 2 parallel jobs vs 1
        targets=targets,
        workloads=[w.strip() for w in workloads.split(",") if w.strip()],
        workdir=os.path.realpath(os.environ.get("BENCH_DIR", "/var/tmp/tdefs-bench")),
        keep=os.environ.get("BENCH_KEEP", "") == "1",
        note=os.environ.get("BENCH_NOTE", ""),
        tdefs_bin=os.environ.get("BENCH_TDEFS_BIN", os.path.join(REPO, ".build-bench/release/tdefs")),
        passthrough_bin=os.environ.get("BENCH_PASSTHROUGH_BIN",
                                       os.path.join(REPO, ".build-bench/passthrough_ll")),
        passthrough_opts=os.environ.get("BENCH_PASSTHROUGH_OPTS", ""),
        # What tdefs asks the kernel for (CapabilityNegotiation, FuseOperations): the writeback
        # cache, keep_cache at open, 1 s attribute and entry timeouts. passthrough_ll's cache=always
        # keeps the page cache; its timeout= then overrides cache=always's 86400 s.
        passthrough_fair_opts=os.environ.get("BENCH_PASSTHROUGH_FAIR_OPTS", "writeback,cache=always,timeout=1"),
        # "tdefs" is what a user runs: `tdefs mount` with no -o beyond allow_other.
        tdefs_opts=os.environ.get("BENCH_TDEFS_OPTS", ""),
        # "tdefs-noxattr": -o noxattr (what the database recipe was before volume profiles).
        tdefs_noxattr_opts="noxattr",
    )
    wd = os.environ.get("BENCH_WRITE_DOCS", "")
    cfg["write_docs"] = (wd == "1") if wd else not quick
    return cfg


# --------------------------------------------------------------------------------------------
# Small system helpers

def run(cmd, timeout=3600, check=True, **kw):
    """Runs cmd, returns CompletedProcess with text output; raises with its stderr on failure."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {p.returncode}: "
                           f"{(p.stderr or p.stdout).strip()[-800:]}")
    return p


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def mounted_at(path):
    """True when path is a mount point (from /proc/self/mountinfo: never touches the FS itself)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), mp)
            if mp == path:
                return True
    return False


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def proc_cpu_seconds(pid):
    """utime+stime of the whole process (all threads, live and dead)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def reset_peak_rss(pid):
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5\n")
        return True
    except OSError:
        return False


def pids_holding(path):
    """PIDs with path open (scans /proc/*/fd)."""
    path = os.path.realpath(path)
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    if os.readlink(f"/proc/{p}/fd/{fd}") == path:
                        out.append(int(p))
                        break
                except OSError:
                    pass
        except OSError:
            pass
    return out


def tool_version(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        return p.stdout.strip().splitlines()[0] if p.stdout.strip() else "?"
    except Exception as e:  # noqa: BLE001 - version strings are informative only
        return f"? ({e})"


def deb_version(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip() or "?"


def pg_bindir():
    base = "/usr/lib/postgresql"
    vers = sorted((v for v in os.listdir(base) if v.isdigit()), key=int) if os.path.isdir(base) else []
    if not vers:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return os.path.join(base, vers[-1], "bin")


# --------------------------------------------------------------------------------------------
# Targets

class Target:
    fuse = True

    def __init__(self, name, cfg, root):
        self.name, self.cfg, self.root = name, cfg, root
        self.backing = os.path.join(root, "backing")
        self.mnt = os.path.join(root, "mnt")
        self.proc = None  # a daemon we started in the foreground (Popen)
        self.logpath = os.path.join(cfg["workdir"], "logs", f"{name}.log")

    def prepare(self):
        if os.path.exists(self.root):
            shutil.rmtree(self.root)
        os.makedirs(self.backing, mode=0o755)
        os.makedirs(self.mnt, mode=0o755)
        for d in (self.root, self.backing, self.mnt):
            os.chmod(d, 0o755)

    def dir(self):
        return self.mnt

    def pid(self):
        return self.proc.pid if self.proc else None

    def _spawn(self, cmd):
        logf = open(self.logpath, "ab")
        logf.write(f"\n=== {datetime.datetime.now().isoformat()} {' '.join(cmd)}\n".encode())
        logf.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     start_new_session=True)
        logf.close()
        CLEANUP.procs.append(self.proc)
        try:
            wait_for(lambda: mounted_at(self.mnt) or self.proc.poll() is not None, 60,
                     f"{self.name} to mount")
        except RuntimeError:
            self.kill()
            raise
        if not mounted_at(self.mnt):
            raise RuntimeError(f"{self.name} exited {self.proc.returncode} before mounting; "
                               f"see {self.logpath}: {tail(self.logpath)}")

    def mount(self):
        raise NotImplementedError

    def unmount(self):
        if mounted_at(self.mnt):
            p = run(["umount", self.mnt], check=False, timeout=120)
            if p.returncode != 0 and mounted_at(self.mnt):
                log(f"{self.name}: umount failed ({p.stderr.strip()}); lazy unmount")
                run(["umount", "-l", self.mnt], check=False)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: daemon {self.proc.pid} still running after unmount; SIGTERM")
                self.kill()
            self.proc = None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tail(path, n=400):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


class Raw(Target):
    fuse = False

    def mount(self):
        pass

    def dir(self):
        return self.backing

    def unmount(self):
        pass


class Passthrough(Target):
    def options(self):
        return self.cfg["passthrough_fair_opts" if self.name == "passthrough-fair" else "passthrough_opts"]

    def mount(self):
        opts = f"source={self.backing},allow_other"
        if self.options():
            opts += "," + self.options()
        self._spawn([self.cfg["passthrough_bin"], "-f", "-o", opts, self.mnt])


class Gocryptfs(Target):
    def mount(self):
        pw = os.path.join(self.root, "pw")
        with open(pw, "w") as f:
            f.write("bench-passphrase-" + os.urandom(8).hex() + "\n")
        os.chmod(pw, 0o600)
        run(["gocryptfs", "-init", "-q", "-extpass", f"cat {pw}", "-scryptn", "10", self.backing])
        self._spawn(["gocryptfs", "-f", "-q", "-extpass", f"cat {pw}", "-allow_other",
                     self.backing, self.mnt])


class Securefs(Target):
    def mount(self):
        key = os.path.join(self.root, "key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(key, 0o600)
        run(["securefs", "create", "--keyfile", key, self.backing], stdin=subprocess.DEVNULL)
        # Without -b securefs stays in the foreground: we own its PID.
        self._spawn(["securefs", "mount", "--keyfile", key, "-o", "allow_other",
                     self.backing, self.mnt])


class Tdefs(Target):
    """tdefs mount daemonizes; its daemon is the process holding BACKING/tdefs.lock."""

    def __init__(self, *a):
        super().__init__(*a)
        self.daemon_pid = None

    def mount(self):
        key = os.path.join(self.root, "key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(key, 0o600)
        tb = self.cfg["tdefs_bin"]
        version = ["--format-version", "1"] if self.name == "tdefs-v1" else []
        profile = ["--profile", "general"] if self.name == "tdefs-general" else []
        run([tb, "init", self.backing, "--key-file", key] + version + profile, stdin=subprocess.DEVNULL)
        extra = self.cfg["tdefs_noxattr_opts" if self.name == "tdefs-noxattr" else "tdefs_opts"]
        opts = "allow_other" + ("," + extra if extra else "")
        with open(self.logpath, "a") as lf:
            lf.write(f"\n=== {datetime.datetime.now().isoformat()} tdefs mount\n")
        p = run([tb, "mount", self.backing, self.mnt, "--key-file", key, "-o", opts],
                stdin=subprocess.DEVNULL, timeout=120, check=False)
        with open(self.logpath, "a") as lf:
            lf.write(p.stdout + p.stderr)
        if p.returncode != 0:
            raise RuntimeError(f"tdefs mount exited {p.returncode}: {p.stderr.strip()[-500:]}")
        if not mounted_at(self.mnt):
            raise RuntimeError("tdefs mount returned 0 but the mount point is not mounted")
        CLEANUP.tdefs_mounts.append(self)
        self.daemon_pid = self._find_daemon()
        if self.daemon_pid is None:
            log("tdefs: daemon PID not found (no holder of tdefs.lock, no pgrep match): "
                "no CPU/RSS figures")

    def _find_daemon(self):
        lock = os.path.join(self.backing, "tdefs.lock")
        holders = [p for p in pids_holding(lock) if p != os.getpid()] if os.path.exists(lock) else []
        if not holders:
            p = run(["pgrep", "-f", self.backing], check=False)
            holders = [int(x) for x in p.stdout.split() if int(x) != os.getpid()]
        if len(holders) > 1:
            # Prefer the one that has /dev/fuse open.
            fuse = set(pids_holding("/dev/fuse"))
            holders = [h for h in holders if h in fuse] or holders
        return holders[0] if holders else None

    def pid(self):
        return self.daemon_pid

    def unmount(self):
        if mounted_at(self.mnt):
            p = run([self.cfg["tdefs_bin"], "unmount", self.mnt], check=False, timeout=300)
            if p.returncode != 0:
                log(f"tdefs unmount exited {p.returncode}: {p.stderr.strip()[-300:]}")
                if mounted_at(self.mnt):
                    run(["umount", "-l", self.mnt], check=False)
        if self.daemon_pid and pid_alive(self.daemon_pid):
            try:
                wait_for(lambda: not pid_alive(self.daemon_pid), 60, "the tdefs daemon to exit")
            except RuntimeError:
                log(f"tdefs: daemon {self.daemon_pid} still alive 60 s after unmount; SIGTERM")
                self.kill()
        if self in CLEANUP.tdefs_mounts:
            CLEANUP.tdefs_mounts.remove(self)
        self.daemon_pid = None

    def kill(self):
        pid = self.daemon_pid
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            try:
                wait_for(lambda: not pid_alive(pid), 10, "tdefs daemon to stop")
            except RuntimeError:
                os.kill(pid, signal.SIGKILL)


TARGET_CLASSES = {"raw": Raw, "passthrough": Passthrough, "passthrough-fair": Passthrough, "tdefs": Tdefs,
                  "tdefs-general": Tdefs, "tdefs-noxattr": Tdefs, "tdefs-v1": Tdefs, "gocryptfs": Gocryptfs, "securefs": Securefs}


class Cleanup:
    """What must be undone on exit, normal or not: mounts, our daemons, PostgreSQL clusters."""

    def __init__(self):
        self.procs, self.tdefs_mounts, self.pg_clusters, self.targets = [], [], [], []

    def run(self):
        for data in list(self.pg_clusters):
            stop_postgres(data, mode="immediate")
        for t in self.targets:
            try:
                t.unmount()
            except Exception as e:  # noqa: BLE001 - keep cleaning up
                log(f"cleanup: unmount {t.name}: {e}")
                run(["umount", "-l", t.mnt], check=False)
                t.kill()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


CLEANUP = Cleanup()


# --------------------------------------------------------------------------------------------
# Measurements

class Phase:
    """Times one phase and samples the target daemon's CPU seconds and peak RSS around it."""

    def __init__(self, target, results, key, nbytes=None):
        self.target, self.results, self.key, self.nbytes = target, results, key, nbytes

    def __enter__(self):
        self.pid = self.target.pid()
        self.cpu0 = None
        if self.pid:
            try:
                reset_peak_rss(self.pid)
                self.cpu0 = proc_cpu_seconds(self.pid)
            except OSError:
                self.pid = None
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, et, ev, tb):
        self.seconds = time.perf_counter() - self.t0
        if self.pid and self.cpu0 is not None:
            try:
                d = dict(cpu_s=round(proc_cpu_seconds(self.pid) - self.cpu0, 3),
                         peak_rss_kb=proc_status_kb(self.pid, "VmHWM"))
                if self.nbytes:
                    d["bytes"] = self.nbytes
                self.results.setdefault("daemon", {})[self.key] = d
            except OSError:
                self.results.setdefault("daemon", {})[self.key] = dict(error="daemon gone")
        return False


def put(results, key, value):
    results[key] = value
    log(f"    {key} = {fmt(value, key)}")


def seq_write(path, mb):
    block = bytearray(os.urandom(MiB))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(mb):
            block[0:8] = i.to_bytes(8, "little")
            n = os.write(fd, block)
            if n != MiB:
                raise RuntimeError(f"short write {n}")
        os.fsync(fd)
    finally:
        os.close(fd)


def seq_read(path, expect):
    buf = bytearray(MiB)
    total = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            total += n
    if total != expect:
        raise RuntimeError(f"read {total} bytes, expected {expect}")


def w_seq(t, d, cfg, res, prefix="seq", mb=None):
    mb = mb or cfg["seq_mb"]
    path = os.path.join(d, f"{prefix}.dat")
    drop_caches()
    with Phase(t, res, f"{prefix}_write", mb * MiB) as ph:
        seq_write(path, mb)
    put(res, f"{prefix}_write_MBps", mb * MiB / 1e6 / ph.seconds)
    drop_caches()
    with Phase(t, res, f"{prefix}_read", mb * MiB) as ph:
        seq_read(path, mb * MiB)
    put(res, f"{prefix}_read_MBps", mb * MiB / 1e6 / ph.seconds)
    os.unlink(path)


# The small-file tree: reproducible from a seed.
WORDS = ("src lib test doc util core net io db cache log conf api model view ctl mod pkg "
         "img data tmp build tools ext vendor include share").split()
EXTS = ["c", "h", "py", "go", "rs", "swift", "txt", "md", "json", "html", "css", "js", "png", "so"]


def make_tree_tar(path, nfiles, seed):
    """A tar of nfiles files in nested directories; sizes log-normal (median 2 KiB, long tail to
    4 MiB), as in a source tree or a mail spool. Byte-identical for a given (nfiles, seed)."""
    rng = random.Random(seed)
    dirs = ["tree"]
    depth = {"tree": 0}
    entries = []  # (name, size or None for dirs)
    total = 0
    for i in range(nfiles):
        if rng.random() < 1 / 12:  # a new directory under an existing one
            parent = rng.choice(dirs)
            if depth[parent] < 6:
                nd = f"{parent}/{rng.choice(WORDS)}{len(dirs)}"
                dirs.append(nd)
                depth[nd] = depth[parent] + 1
                entries.append((nd, None))
        parent = rng.choice(dirs[-24:]) if rng.random() < 0.7 else rng.choice(dirs)
        size = 0 if rng.random() < 0.02 else min(int(rng.lognormvariate(math.log(2048), 1.5)), 4 * MiB)
        name = f"{parent}/{rng.choice(WORDS)}_{i}.{rng.choice(EXTS)}"
        entries.append((name, size))
        total += size
    tmp = path + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tf:
        ti = tarfile.TarInfo("tree")
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tf.addfile(ti)
        for name, size in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 1700000000, 0, 0, "root", "root"
            if size is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            else:
                ti.mode, ti.size = 0o644, size
                data = rng.randbytes(size)
                tf.addfile(ti, io.BytesIO(data))
    os.replace(tmp, path)
    return dict(files=nfiles, dirs=len(dirs), bytes=total)


def tree_info(cfg):
    cache = os.path.join(cfg["workdir"], "cache")
    os.makedirs(cache, exist_ok=True)
    tarp = os.path.join(cache, f"tree-{cfg['files']}-{cfg['tree_seed']}.tar")
    meta = tarp + ".json"
    if not (os.path.exists(tarp) and os.path.exists(meta)):
        log(f"generating the {cfg['files']}-file tree (seed {cfg['tree_seed']})")
        info = make_tree_tar(tarp, cfg["files"], cfg["tree_seed"])
        import hashlib
        h = hashlib.sha256()
        with open(tarp, "rb") as f:
            for chunk in iter(lambda: f.read(MiB), b""):
                h.update(chunk)
        info["tar_sha256"] = h.hexdigest()
        with open(meta, "w") as f:
            json.dump(info, f)
    with open(meta) as f:
        info = json.load(f)
    info["tar"] = tarp
    return info


def read_all(root):
    buf = bytearray(MiB)
    files = total = 0
    stack = [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    with open(e.path, "rb", buffering=0) as f:
                        while True:
                            n = f.readinto(buf)
                            if not n:
                                break
                            total += n
                    files += 1
    return files, total


def w_tree(t, d, cfg, res):
    info = cfg["tree"]
    drop_caches()
    with Phase(t, res, "tree_extract", info["bytes"]) as ph:
        run(["tar", "-xf", info["tar"], "-C", d])
    put(res, "tree_extract_s", ph.seconds)
    drop_caches()
    with Phase(t, res, "tree_ls") as ph:
        run(["sh", "-c", 'ls -lR "$1" > /dev/null', "sh", os.path.join(d, "tree")])
    put(res, "tree_ls_s", ph.seconds)
    drop_caches()
    with Phase(t, res, "tree_read", info["bytes"]) as ph:
        files, total = read_all(os.path.join(d, "tree"))
    if (files, total) != (info["files"], info["bytes"]):
        raise RuntimeError(f"tree read found {files} files, {total} bytes; "
                           f"expected {info['files']}, {info['bytes']}")
    put(res, "tree_read_s", ph.seconds)
    with Phase(t, res, "tree_rm") as ph:
        run(["rm", "-rf", os.path.join(d, "tree")])
    put(res, "tree_rm_s", ph.seconds)


def fio_args(d, cfg, jobs):
    return ["fio", "--name=rand", f"--directory={d}", "--rw=randrw", "--rwmixread=70",
            "--bs=4k", f"--size={cfg['fio_size_mb']}M", "--fsync=32", "--ioengine=psync",
            "--fallocate=none", "--randrepeat=1", f"--numjobs={jobs}", "--group_reporting"]


def w_fio(t, d, cfg, res, jobs=1, key="fio"):
    sub = os.path.join(d, f"fio{jobs}")
    os.makedirs(sub, exist_ok=True)
    # Lay the file(s) out first, then run on cold caches.
    run(fio_args(sub, cfg, jobs) + ["--create_only=1"])
    drop_caches()
    with Phase(t, res, key) as ph:
        p = run(fio_args(sub, cfg, jobs) + [f"--runtime={cfg['fio_seconds']}", "--time_based",
                                            "--output-format=json"])
    out = p.stdout
    j = json.loads(out[out.index("{"):])
    job = j["jobs"][0]
    iops = job["read"]["iops"] + job["write"]["iops"]
    ph_bytes = job["read"]["io_bytes"] + job["write"]["io_bytes"]
    if "daemon" in res and key in res["daemon"]:
        res["daemon"][key]["bytes"] = ph_bytes
    put(res, f"{key}_iops", iops)
    run(["rm", "-rf", sub])


def w_fio2(t, d, cfg, res):
    w_fio(t, d, cfg, res, jobs=2, key="fio2")


def w_sqlite(t, d, cfg, res):
    path = os.path.join(d, "bench.sqlite")
    n = cfg["sqlite_inserts"]
    payload = os.urandom(100)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"journal_mode is {mode}, not wal")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v BLOB)")
        with Phase(t, res, "sqlite") as ph:
            for i in range(n):
                con.execute("BEGIN")
                con.execute("INSERT INTO t (k, v) VALUES (?, ?)", (f"key-{i}", payload))
                con.execute("COMMIT")
        got = con.execute("SELECT count(*) FROM t").fetchone()[0]
        if got != n:
            raise RuntimeError(f"sqlite: {got} rows, expected {n}")
    finally:
        con.close()
    put(res, "sqlite_inserts_per_s", n / ph.seconds)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)


def as_postgres(cmd, **kw):
    return run(["runuser", "-u", "postgres", "--"] + cmd, **kw)


def stop_postgres(data, mode="fast"):
    try:
        as_postgres([os.path.join(pg_bindir(), "pg_ctl"), "-D", data, "-m", mode, "-w", "-t", "120",
                     "stop"], check=False, timeout=180)
    except Exception as e:  # noqa: BLE001
        log(f"pg_ctl stop {data}: {e}")
    if data in CLEANUP.pg_clusters:
        CLEANUP.pg_clusters.remove(data)


def w_pgbench(t, d, cfg, res):
    import pwd
    pw = pwd.getpwnam("postgres")
    bindir = pg_bindir()
    data = os.path.join(d, "pgdata")
    os.mkdir(data, 0o700)
    os.chown(data, pw.pw_uid, pw.pw_gid)
    os.chmod(data, 0o700)
    sock = os.path.join(cfg["workdir"], "pgsock")
    shutil.rmtree(sock, ignore_errors=True)
    os.mkdir(sock, 0o700)
    os.chown(sock, pw.pw_uid, pw.pw_gid)
    pglog = os.path.join(sock, "postgres.log")
    port = str(cfg["pg_port"])
    as_postgres([os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--locale=C", "--no-sync"], timeout=600)
    CLEANUP.pg_clusters.append(data)
    try:
        as_postgres([os.path.join(bindir, "pg_ctl"), "-D", data, "-l", pglog, "-w", "-t", "300",
                     "-o", f"-k {sock} -p {port} -c listen_addresses=''", "start"], timeout=400)
        conn = ["-h", sock, "-p", port, "-U", "postgres"]
        with Phase(t, res, "pgbench_init") as ph:
            as_postgres([os.path.join(bindir, "pgbench")] + conn +
                        ["-i", "-q", "-s", str(cfg["pgbench_scale"]), "postgres"], timeout=3600)
        put(res, "pgbench_init_s", ph.seconds)
        as_postgres([os.path.join(bindir, "psql")] + conn + ["-q", "-c", "CHECKPOINT", "postgres"])
        with Phase(t, res, "pgbench"):
            p = as_postgres([os.path.join(bindir, "pgbench")] + conn +
                            ["-c", str(cfg["pgbench_clients"]), "-j", str(cfg["pgbench_threads"]),
                             "-T", str(cfg["pgbench_seconds"]), "-n", "postgres"],
                            timeout=cfg["pgbench_seconds"] * 4 + 300)
        m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", p.stdout) or \
            re.search(r"tps = ([0-9.]+)", p.stdout)
        if not m:
            raise RuntimeError(f"no tps in pgbench output: {p.stdout[-400:]}")
        put(res, "pgbench_tps", float(m.group(1)))
    except Exception:
        log(f"postgres log tail: {tail(pglog, 600)}")
        raise
    finally:
        stop_postgres(data)
    shutil.rmtree(data, ignore_errors=True)


def w_big(t, d, cfg, res):
    w_seq(t, d, cfg, res, prefix="big", mb=cfg["big_mb"])


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def w_grow(t, d, cfg, res):
    """Files grown without writing data, as databases do (fallocate, ftruncate up), and by writing
    zeros: format 2 stores the zeros encrypted where format 1 left holes (docs/format.md)."""
    n = cfg["grow_mb"] * MiB
    path = os.path.join(d, "grow.dat")
    with Phase(t, res, "grow_fallocate") as ph:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.posix_fallocate(fd, 0, n)
            os.fsync(fd)
        finally:
            os.close(fd)
    put(res, "grow_fallocate_s", ph.seconds)
    os.unlink(path)
    with Phase(t, res, "grow_truncate") as ph:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, n)
            os.fsync(fd)
        finally:
            os.close(fd)
    put(res, "grow_truncate_s", ph.seconds)
    os.unlink(path)
    zeros = bytes(MiB)
    with Phase(t, res, "grow_zeros", n) as ph:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for _ in range(cfg["grow_mb"]):
                os.write(fd, zeros)
            os.fsync(fd)
        finally:
            os.close(fd)
    put(res, "grow_zeros_MBps", n / 1e6 / ph.seconds)
    os.unlink(path)


def w_bigdir(t, d, cfg, res):
    n = cfg["bigdir_files"]
    big = os.path.join(d, "bigdir")
    os.mkdir(big)
    names = [f"entry-{i:07d}-{(i * 2654435761) % 1000003:07d}" for i in range(n)]
    with Phase(t, res, "bigdir_create") as ph:
        for nm in names:
            os.close(os.open(os.path.join(big, nm), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    put(res, "bigdir_create_s", ph.seconds)
    drop_caches()
    with Phase(t, res, "bigdir_readdir") as ph:
        got = sum(1 for _ in os.scandir(big))
    if got != n:
        raise RuntimeError(f"bigdir: readdir saw {got} entries, expected {n}")
    put(res, "bigdir_readdir_s", ph.seconds)
    drop_caches()
    rng = random.Random(cfg["tree_seed"])
    sample = rng.sample(names, min(2000, n))
    with Phase(t, res, "bigdir_lookup") as ph:
        for nm in sample:
            os.stat(os.path.join(big, nm))
    put(res, "bigdir_lookup_ms_per_1000", ph.seconds * 1000 * 1000 / len(sample))
    drop_caches()
    with Phase(t, res, "bigdir_ls") as ph:
        run(["sh", "-c", 'ls -l "$1" > /dev/null', "sh", big])
    put(res, "bigdir_ls_s", ph.seconds)
    run(["rm", "-rf", big])


WORKLOADS = dict(seq=w_seq, tree=w_tree, fio=w_fio, sqlite=w_sqlite, pgbench=w_pgbench,
                 big=w_big, bigdir=w_bigdir, fio2=w_fio2, grow=w_grow)

# Metric key -> (label, unit, higher_is_better). Order is the table's order.
METRICS = [
    ("seq_write_MBps", "Sequential write {seq}, 1 MiB blocks + fsync", "MB/s", True),
    ("seq_read_MBps", "Sequential read {seq}, cold cache", "MB/s", True),
    ("tree_extract_s", "{files} small files: extract (tar -x)", "s", False),
    ("tree_ls_s", "{files} small files: ls -lR, cold", "s", False),
    ("tree_read_s", "{files} small files: read all, cold", "s", False),
    ("tree_rm_s", "{files} small files: rm -rf", "s", False),
    ("fio_iops", "fio 4 KiB randrw 70/30, fsync/32, 1 job", "IOPS", True),
    ("fio2_iops", "fio 4 KiB randrw 70/30, fsync/32, 2 jobs", "IOPS", True),
    ("sqlite_inserts_per_s", "SQLite WAL, 1 insert per transaction", "inserts/s", True),
    ("pgbench_init_s", "pgbench -i -s {pgscale}", "s", False),
    ("pgbench_tps", "pgbench TPS (scale {pgscale}, {pgc} clients, {pgt} s)", "TPS", True),
    ("big_write_MBps", "Sequential write {big}", "MB/s", True),
    ("big_read_MBps", "Sequential read {big}, cold cache", "MB/s", True),
    ("bigdir_create_s", "{bigdir} entries in one dir: create", "s", False),
    ("bigdir_readdir_s", "{bigdir} entries in one dir: readdir, cold", "s", False),
    ("bigdir_lookup_ms_per_1000", "{bigdir} entries in one dir: 1,000 lookups, cold", "ms", False),
    ("bigdir_ls_s", "{bigdir} entries in one dir: ls -l, cold", "s", False),
    ("grow_fallocate_s", "fallocate {grow} + fsync", "s", False),
    ("grow_truncate_s", "ftruncate up to {grow} + fsync", "s", False),
    ("grow_zeros_MBps", "write {grow} of zeros + fsync", "MB/s", True),
]
METRIC_INFO = {k: (label, unit, hib) for k, label, unit, hib in METRICS}

# Daemon phases whose bytes give "CPU seconds per GiB moved".
CPU_PER_GIB = [("seq_write", "sequential write"), ("seq_read", "sequential read"),
               ("tree_extract", "small files: extract"), ("tree_read", "small files: read"),
               ("fio", "fio randrw"), ("big_write", "big file write"), ("big_read", "big file read")]


def size_label(mb):
    return f"{mb // 1024} GiB" if mb % 1024 == 0 and mb >= 1024 else f"{mb} MiB"


def metric_label(key, cfg):
    label = METRIC_INFO[key][0]
    return label.format(seq=size_label(cfg["seq_mb"]), files=f"{cfg['files']:,}",
                        pgscale=cfg["pgbench_scale"], pgc=cfg["pgbench_clients"],
                        pgt=cfg["pgbench_seconds"], big=size_label(cfg["big_mb"] or 1),
                        bigdir=f"{cfg['bigdir_files']:,}", grow=size_label(cfg.get("grow_mb", 256)))


def fmt(v, key=None):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


# --------------------------------------------------------------------------------------------
# The run

def machine_facts(cfg):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    fs = " ".join(run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", cfg["workdir"]], check=False).stdout.split())
    try:
        deb = open("/etc/debian_version").read().strip()
    except OSError:
        deb = "?"
    git = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    dirty = run(["git", "-C", REPO, "status", "--porcelain", "--", "Sources", "Package.swift"],
                check=False).stdout.strip()
    import hashlib
    tb = cfg["tdefs_bin"]
    tdefs_bin = "?"
    if os.path.exists(tb):
        with open(tb, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()[:12]
        built = datetime.datetime.fromtimestamp(os.path.getmtime(tb)).isoformat(timespec="minutes")
        tdefs_bin = f"{tb} (built {built}, sha256 {sha})"
    return dict(
        tdefs_binary=tdefs_bin,
        cpu=cpu, cores=os.cpu_count(), mem_gib=round(mem / 1024 / 1024, 1), kernel=platform.release(),
        debian=deb, filesystem=fs, loadavg_start=os.getloadavg(),
        tdefs=f"{git}{' + uncommitted changes' if dirty else ''}",
        versions=dict(
            gocryptfs=tool_version(["gocryptfs", "-version"]),
            securefs=deb_version("securefs"),
            libfuse3=deb_version("libfuse3-3"),
            fio=tool_version(["fio", "--version"]),
            postgresql=deb_version("postgresql-" + os.path.basename(os.path.dirname(pg_bindir()))),
            sqlite=sqlite3.sqlite_version,
            swift=tool_version(["swift", "--version"]) if shutil.which("swift") else "?",
        ))


def check_tools(cfg):
    need = {"passthrough": [cfg["passthrough_bin"]], "passthrough-fair": [cfg["passthrough_bin"]],
            "tdefs": [cfg["tdefs_bin"]], "tdefs-general": [cfg["tdefs_bin"]], "tdefs-noxattr": [cfg["tdefs_bin"]], "tdefs-v1": [cfg["tdefs_bin"]],
            "gocryptfs": ["gocryptfs"], "securefs": ["securefs"]}
    for t in cfg["targets"]:
        for b in need.get(t, []):
            if not (shutil.which(b) or os.access(b, os.X_OK)):
                sys.exit(f"bench: {t} needs {b}, not found (run bench/run.sh, which builds it)")
    for b in ["fio", "tar", "runuser"]:
        if not shutil.which(b):
            sys.exit(f"bench: {b} not found")
    if os.geteuid() != 0:
        sys.exit("bench: must run as root (mounts, drop_caches, postgres user)")


def cmd_run():
    cfg = load_config()
    check_tools(cfg)
    wd = cfg["workdir"]
    os.makedirs(os.path.join(wd, "logs"), exist_ok=True)
    for p in (wd, os.path.dirname(wd)):
        os.chmod(p, os.stat(p).st_mode | 0o055)  # the postgres user must traverse to its data dir
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    facts = machine_facts(cfg)
    if "tree" in cfg["workloads"]:
        cfg["tree"] = tree_info(cfg)
    workloads = list(cfg["workloads"])
    if cfg["big_mb"] and "big" not in workloads:
        workloads.append("big")
    if cfg["bigdir_files"] and "bigdir" not in workloads:
        workloads.append("bigdir")
    if cfg["fio2"] and "fio2" not in workloads:
        workloads.append("fio2")
    cfg["workloads"] = workloads
    for w in workloads:
        if w not in WORKLOADS:
            sys.exit(f"bench: unknown workload {w!r} (known: {', '.join(WORKLOADS)})")
    log(f"bench: targets {cfg['targets']}, workloads {workloads}, {cfg['rounds']} round(s), "
        f"workdir {wd}")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    rounds = []
    t_start = time.time()
    try:
        for r in range(cfg["rounds"]):
            k = r % len(cfg["targets"])
            order = cfg["targets"][k:] + cfg["targets"][:k]
            log(f"=== round {r + 1}/{cfg['rounds']}: {', '.join(order)}")
            rr = {}
            for name in order:
                rr[name] = run_target(name, cfg, workloads)
            rounds.append(rr)
    except KeyboardInterrupt as e:
        log(f"bench: interrupted ({e}); cleaning up; partial results are kept "
            "(docs/ is left alone)")
        cfg["interrupted"] = True
        cfg["write_docs"] = False
    finally:
        CLEANUP.run()
        if not cfg["keep"]:
            for name in ALL_TARGETS + EXTRA_TARGETS:
                shutil.rmtree(os.path.join(wd, name), ignore_errors=True)
            shutil.rmtree(os.path.join(wd, "pgsock"), ignore_errors=True)
    facts["loadavg_end"] = os.getloadavg()
    result = dict(date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  duration_s=round(time.time() - t_start), config=cfg, machine=facts,
                  rounds=rounds)
    result["summary"] = summarize(result)
    outdir = os.path.join(HERE, "results")
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, f"{stamp}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1, default=str)
    log(f"bench: results in {out}")
    report(result, out)
    return 0 if rounds else 1


def run_target(name, cfg, workloads):
    t = TARGET_CLASSES[name](name, cfg, os.path.join(cfg["workdir"], name))
    res = {}
    log(f"--- {name}")
    try:
        t.prepare()
        CLEANUP.targets.append(t)
        t.mount()
        if t.fuse and not t.pid():
            log(f"{name}: no daemon PID; no CPU/RSS figures")
    except Exception as e:  # noqa: BLE001 - one target failing must not stop the others
        log(f"{name}: mount failed: {e}")
        res["errors"] = {"mount": str(e)}
        safe_unmount(t)
        return res
    d = t.dir()
    for w in workloads:
        try:
            WORKLOADS[w](t, d, cfg, res)
        except Exception as e:  # noqa: BLE001
            log(f"{name}: {w} failed: {e}")
            res.setdefault("errors", {})[w] = str(e)
        if t.fuse and t.pid() and not pid_alive(t.pid()):
            msg = f"the {name} daemon (PID {t.pid()}) died during {w}; see {t.logpath}"
            log(msg)
            res.setdefault("errors", {})["daemon"] = msg
            break
    safe_unmount(t)
    return res


def safe_unmount(t):
    try:
        t.unmount()
    except Exception as e:  # noqa: BLE001
        log(f"{t.name}: unmount failed: {e}; lazy unmount")
        run(["umount", "-l", t.mnt], check=False)
        t.kill()
    if t in CLEANUP.targets:
        CLEANUP.targets.remove(t)
    if not t.cfg["keep"]:
        shutil.rmtree(t.root, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Summary and report

def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return dict(median=statistics.median(vals), min=min(vals), max=max(vals), n=len(vals))


def speed_ratio(key, tdefs, other):
    """tdefs' speed relative to other: >1 means tdefs is faster, whatever the unit."""
    if tdefs is None or other is None or tdefs == 0 or other == 0:
        return None
    hib = METRIC_INFO[key][2]
    return tdefs / other if hib else other / tdefs


def summarize(result):
    cfg = result["config"]
    rounds = result["rounds"]
    targets = cfg["targets"]
    summ = dict(metrics={}, daemon={}, errors={})
    for key in METRIC_INFO:
        row = {}
        for t in targets:
            s = stats([r.get(t, {}).get(key) for r in rounds])
            if s:
                row[t] = s
        if not row:
            continue
        med = {t: row[t]["median"] for t in row}
        hib = METRIC_INFO[key][2]
        peers = {p: med[p] for p in PEERS if p in med}
        best = None
        if peers:
            best = (max if hib else min)(peers, key=peers.get)
        summ["metrics"][key] = dict(
            values=row, best_peer=best,
            ratio_raw=speed_ratio(key, med.get("tdefs"), med.get("raw")),
            ratio_passthrough=speed_ratio(key, med.get("tdefs"), med.get("passthrough")),
            ratio_fair=speed_ratio(key, med.get("tdefs"), med.get("passthrough-fair")),
            ratio_best_peer=speed_ratio(key, med.get("tdefs"), peers.get(best) if best else None))
    # Daemon cost: peak RSS over the whole round (max over phases), CPU seconds per GiB moved.
    for t in targets:
        if t not in FUSE_TARGETS:
            continue
        peak, cpu_tot, per = [], [], {}
        for r in rounds:
            dm = r.get(t, {}).get("daemon", {})
            rss = [v.get("peak_rss_kb") for v in dm.values() if v.get("peak_rss_kb")]
            if rss:
                peak.append(max(rss) / 1024)
            cpu_tot.append(sum(v.get("cpu_s", 0) for v in dm.values()) if dm else None)
            for ph, v in dm.items():
                per.setdefault(ph, dict(cpu_s=[], peak_rss_mib=[], cpu_s_per_gib=[]))
                if "cpu_s" in v:
                    per[ph]["cpu_s"].append(v["cpu_s"])
                    if v.get("bytes"):
                        per[ph]["cpu_s_per_gib"].append(v["cpu_s"] / (v["bytes"] / GiB))
                if v.get("peak_rss_kb"):
                    per[ph]["peak_rss_mib"].append(v["peak_rss_kb"] / 1024)
        summ["daemon"][t] = dict(peak_rss_mib=stats(peak), cpu_s_total=stats(cpu_tot),
                                 phases={ph: {k: stats(v) for k, v in d.items()}
                                         for ph, d in per.items()})
    for i, r in enumerate(rounds):
        for t, res in r.items():
            for w, e in res.get("errors", {}).items():
                summ["errors"].setdefault(t, []).append(f"round {i + 1}, {w}: {e}")
    # Parallel fio scaling (2 jobs vs 1), for each target.
    if "fio2_iops" in summ["metrics"] and "fio_iops" in summ["metrics"]:
        sc = {}
        for t in targets:
            a = summ["metrics"]["fio_iops"]["values"].get(t)
            b = summ["metrics"]["fio2_iops"]["values"].get(t)
            if a and b:
                sc[t] = b["median"] / a["median"]
        summ["fio_parallel_scaling"] = sc
    if "big_write_MBps" in summ["metrics"] and "seq_write_MBps" in summ["metrics"]:
        sc = {}
        for t in targets:
            row = {}
            for kb, ks in (("big_write_MBps", "seq_write_MBps"), ("big_read_MBps", "seq_read_MBps")):
                a = summ["metrics"].get(ks, {}).get("values", {}).get(t)
                b = summ["metrics"].get(kb, {}).get("values", {}).get(t)
                if a and b:
                    row[kb.split("_")[1]] = b["median"] / a["median"]
            if row:
                sc[t] = row
        summ["big_vs_seq"] = sc
    return summ


def cell(s):
    if not s:
        return "—"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} [{fmt(s['min'])}–{fmt(s['max'])}]"


def rfmt(x):
    return "—" if x is None else f"{x:.2f}×"


def tables(result):
    """Markdown tables (used both for the terminal and docs/benchmarks.md)."""
    cfg, summ = result["config"], result["summary"]
    targets = cfg["targets"]
    cols = [t for t in ALL_TARGETS + EXTRA_TARGETS if t in targets]
    hdr = ["Workload", "unit"] + cols + ["tdefs/raw", "tdefs/passthrough", "tdefs/fair limit", "tdefs/best peer"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for key in METRIC_INFO:
        m = summ["metrics"].get(key)
        if not m:
            continue
        unit = METRIC_INFO[key][1] + (" ↑" if METRIC_INFO[key][2] else " ↓")
        bp = f" ({m['best_peer']})" if m["best_peer"] else ""
        row = [metric_label(key, cfg), unit] + [cell(m["values"].get(t)) for t in cols] + \
              [rfmt(m["ratio_raw"]), rfmt(m["ratio_passthrough"]), rfmt(m.get("ratio_fair")),
               rfmt(m["ratio_best_peer"]) + bp]
        lines.append("| " + " | ".join(row) + " |")
    main = "\n".join(lines)

    fcols = [t for t in FUSE_TARGETS if t in targets and t in summ["daemon"]]
    dl = []
    if fcols:
        dl = ["| Daemon cost | " + " | ".join(fcols) + " |", "|---|" + "---|" * len(fcols)]
        dl.append("| peak RSS over a round, MiB | " +
                  " | ".join(cell(summ["daemon"][t]["peak_rss_mib"]) for t in fcols) + " |")
        dl.append("| CPU seconds, whole round | " +
                  " | ".join(cell(summ["daemon"][t]["cpu_s_total"]) for t in fcols) + " |")
        for ph, label in CPU_PER_GIB:
            vals = [summ["daemon"][t]["phases"].get(ph, {}).get("cpu_s_per_gib") for t in fcols]
            if any(vals):
                dl.append(f"| CPU s per GiB, {label} | " + " | ".join(cell(v) for v in vals) + " |")
        phases = []
        for t in fcols:
            for ph in summ["daemon"][t]["phases"]:
                if ph not in phases:
                    phases.append(ph)
        for ph in phases:
            vals = [summ["daemon"][t]["phases"].get(ph, {}) for t in fcols]
            dl.append(f"| {ph}: CPU s / peak RSS MiB | " + " | ".join(
                f"{cell(v.get('cpu_s'))} / {cell(v.get('peak_rss_mib'))}" if v else "—"
                for v in vals) + " |")
    extra = []
    if summ.get("fio_parallel_scaling"):
        extra.append("fio, 2 jobs ÷ 1 job (IOPS): " + ", ".join(
            f"{t} {v:.2f}×" for t, v in summ["fio_parallel_scaling"].items()))
    if summ.get("big_vs_seq"):
        extra.append(f"{size_label(cfg['big_mb'])} ÷ {size_label(cfg['seq_mb'])} file rate: " +
                     ", ".join(f"{t} write {v.get('write', 0):.2f}× read {v.get('read', 0):.2f}×"
                               for t, v in summ["big_vs_seq"].items()))
    return main, "\n".join(dl), extra


def plot(result, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no plot")
        return False
    cfg, summ = result["config"], result["summary"]
    keys = [k for k in METRIC_INFO if k in summ["metrics"]]
    series = [("ratio_raw", "vs raw", "#888888"), ("ratio_passthrough", "vs passthrough", "#4477aa"),
              ("ratio_fair", "vs fair limit", "#228833"), ("ratio_best_peer", "vs best peer", "#ee7733")]
    keys = [k for k in keys if any(summ["metrics"][k].get(s) for s, _, _ in series)]
    if not keys:
        return False
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(keys) + 1.3), dpi=80)
    h = 0.26
    for i, (s, label, color) in enumerate(series):
        ys = [len(keys) - 1 - j + (1 - i) * h for j in range(len(keys))]
        xs = [summ["metrics"][k][s] or 0 for k in keys]
        ax.barh(ys, xs, height=h, color=color, label=label)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([metric_label(k, cfg) for k in reversed(keys)], fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    allx = [summ["metrics"][k][s] for k in keys for s, _, _ in series if summ["metrics"][k][s]]
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
             if min(allx) / 2 <= t <= max(allx) * 2]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}×" for t in ticks])
    ax.minorticks_off()
    ax.grid(axis="x", linewidth=0.3, alpha=0.5)
    ax.set_xlabel("tdefs speed ÷ other's speed (median; >1: tdefs faster)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"tdefs relative speed, {result['date'][:10]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def markdown(result, main, daemon, extra, png_name, json_rel):
    cfg, mf, summ = result["config"], result["machine"], result["summary"]
    v = mf["versions"]
    nround = len(result["rounds"])
    quick = " (quick run: reduced sizes)" if cfg.get("quick") else ""
    tree = cfg.get("tree") or {}
    out = [
        "# Benchmarks",
        "",
        "Generated by `bench/bench.py` (started by `bench/run.sh`); do not edit by hand: rerun, or",
        f"regenerate from the saved result with `python3 bench/bench.py report {json_rel}`.",
        "",
        f"**Run:** {result['date']}, {nround} round(s){quick}, {result.get('duration_s', '?')} s in all. "
        f"tdefs {mf['tdefs']} (working tree at run time; binary {mf.get('tdefs_binary', '?')}).",
        "",
    ]
    if cfg.get("note"):
        out += [f"**Note:** {cfg['note']}", ""]
    # Only the load before the run says anything about other work: at the end it is the run's
    # own last workload (pgbench's clients).
    la0, la1 = mf.get("loadavg_start"), mf.get("loadavg_end")
    if la0 and la0[0] >= (mf.get("cores") or 1):
        out += [f"**Load:** the 1-minute load average was {la0[0]:.1f} when the run began, on "
                f"{mf['cores']} cores: other work was running, so absolute figures are noisy; ratios "
                "within a round are the fairer reading.", ""]
    elif la0 and la1:
        out += [f"**Load:** the 1-minute load average was {la0[0]:.1f} when the run began (below "
                f"one per core: nothing else was running, though a 1-minute average still carries "
                f"the work just before) and {la1[0]:.1f} at its end (the run's own pgbench clients).", ""]
    out += [
        "Medians over the rounds, with [min–max]. ↑: higher is better, ↓: lower is better. The ratio",
        "columns are tdefs' *speed* relative to the other target (its throughput ÷ theirs, or their",
        "time ÷ tdefs' time): 1.00× is as fast, below 1 slower. *Best peer* is the faster of",
        "gocryptfs and securefs on that workload.",
        "",
        main,
        "",
        f"![tdefs speed ratios]({png_name})",
        "",
    ]
    if extra:
        out += ["Scaling:", ""] + [f"- {e}" for e in extra] + [""]
    if daemon:
        out += ["## Daemon cost", "",
                "CPU seconds are the daemon's utime+stime (`/proc/PID/stat`) during each phase; peak",
                "RSS is `VmHWM` from `/proc/PID/status`, reset before each phase (`clear_refs`). GiB",
                "moved is the phase's payload (file bytes written or read; fio's I/O bytes).",
                "", daemon, ""]
    if summ.get("errors"):
        out += ["## Failures in this run", ""]
        for t, errs in summ["errors"].items():
            for e in errs:
                out.append(f"- {t}: {e[:300]}")
        out.append("")
    out += [
        "## What runs",
        "",
        "Targets, each mounted afresh on a new backing directory in every round (the order of",
        "targets rotates between rounds); every FUSE target runs with `allow_other`:",
        "",
        "- **raw**: the backing directory itself, no FUSE.",
        "- **passthrough**: libfuse's `passthrough_ll`, built from the examples Debian's",
        f"  libfuse3-dev ships (libfuse {v['libfuse3']}), default options"
        + (f" plus `{cfg['passthrough_opts']}`" if cfg.get("passthrough_opts") else "")
        + ": FUSE without crypto, the limit for any FUSE overlay.",
        "- **passthrough-fair**: the same `passthrough_ll` with `-o "
        + cfg.get("passthrough_fair_opts", "writeback,cache=always,timeout=1")
        + "`: the kernel caching tdefs asks for (the writeback cache, the page cache kept across"
        " opens, 1 s attribute and entry timeouts), so tdefs/fair limit is the cost of encryption"
        " alone. *tdefs/passthrough* and *tdefs/fair limit* compare the **tdefs** column.",
        f"- **tdefs**: release build, `tdefs init … --key-file` (a volume of the default profile,"
        " database, which serves no extended attributes, like securefs, which answers ENOSYS to them on"
        " Linux, and passthrough_ll without `-o xattr`), `tdefs mount … -o allow_other"
        + (f",{cfg['tdefs_opts']}" if cfg.get("tdefs_opts") else "") + "`: the options"
        " a user runs by default. Every ratio is of this target.",
    ] + ([
        "- **tdefs-general**: the same on a volume of `tdefs init --profile general`, which keeps"
        " user.* extended attributes: the kernel then asks for `security.capability` before every"
        " write(2) and chown, and `ls -l` for two attributes per entry, each a round trip.",
    ] if "tdefs-general" in cfg["targets"] else []) + ([
        "- **tdefs-noxattr**: the **tdefs** target mounted with `-o allow_other,noxattr`.",
    ] if "tdefs-noxattr" in cfg["targets"] else []) + ([
        "- **tdefs-v1**: the **tdefs** target on a format version 1 volume (`tdefs init"
        " --format-version 1`, as a release before format 2 made it): v1 leaves"
        " holes where v2 stores encrypted zeros, so the grow rows show what format 2 costs.",
    ] if "tdefs-v1" in cfg["targets"] else []) + [
        f"- **gocryptfs** {v['gocryptfs'].split(';')[0].replace('gocryptfs ', '')}: "
        "`-init -scryptn 10`, mounted with `-allow_other`.",
        f"- **securefs** {v['securefs']} (Debian): `securefs create --keyfile`, "
        "`securefs mount -o allow_other`.",
        "",
        "Workloads, once per target per round:",
        "",
        f"- Sequential: write a {size_label(cfg['seq_mb'])} file in 1 MiB blocks, then fsync (timed "
        "together); drop caches; read it back in 1 MiB blocks.",
        f"- Small files: a tar of {tree.get('files', cfg['files']):,} files in {tree.get('dirs', '?')} "
        f"nested directories, {tree.get('bytes', 0) / MiB:.0f} MiB, sizes log-normal (median 2 KiB), "
        f"generated from seed {cfg['tree_seed']} (sha256 {str(tree.get('tar_sha256', '?'))[:16]}…). "
        "`tar -x` (timed without a sync; a sync follows, untimed); drop caches, `ls -lR`; drop "
        "caches, read every file; `rm -rf`.",
        f"- fio {v['fio']}: `--rw=randrw --rwmixread=70 --bs=4k --size={cfg['fio_size_mb']}M --fsync=32 "
        f"--ioengine=psync --runtime={cfg['fio_seconds']} --time_based`, laid out first, then run on "
        "cold caches; read+write IOPS.",
        f"- SQLite {v['sqlite']} (Python's sqlite3): `journal_mode=WAL`, `synchronous=FULL`, "
        f"{cfg['sqlite_inserts']:,} inserts of a 100-byte row, one transaction each.",
        f"- PostgreSQL {v['postgresql']}: a cluster made by `initdb` on the target as the postgres "
        "user, default settings, a private Unix socket; `pgbench -i -s "
        f"{cfg['pgbench_scale']}` (timed), `CHECKPOINT`, then `pgbench -c {cfg['pgbench_clients']} "
        f"-j {cfg['pgbench_threads']} -T {cfg['pgbench_seconds']}` (TPCB-like).",
        "- Optional (off by default): `BENCH_BIG_MB=10240` (a 10 GiB file against the 1 GiB one), "
        "`BENCH_BIGDIR_FILES=100000` (create, cold readdir, 1,000 cold lookups per figure, cold "
        "`ls -l` in one directory), `BENCH_FIO2=1` (fio with 2 parallel jobs, each on its own file), "
        f"workload `grow` (a {size_label(cfg.get('grow_mb', 256))} file made by `posix_fallocate`, by "
        "`ftruncate` up, and by writing zeros in 1 MiB blocks, each followed by `fsync`, timed with it).",
        "",
        "## Machine",
        "",
        f"- CPU: {mf['cpu']}, {mf['cores']} cores; memory {mf['mem_gib']} GiB",
        f"- Debian {mf['debian']}, kernel {mf['kernel']}",
        f"- Backing filesystem: {mf['filesystem']}",
        f"- PostgreSQL {v['postgresql']}, SQLite {v['sqlite']}, {v['fio']}, {v['swift']}",
        "",
        "## Reproduce",
        "",
        "As root on Debian 12:",
        "",
        "    bash bench/run.sh                  # installs packages, builds, runs the full benchmark",
        "    BENCH_QUICK=1 bash bench/run.sh    # a few minutes, small sizes; writes to bench/results/",
        "",
        "Knobs (environment variables) are listed in `bench/README.md`. The raw numbers of this run,",
        f"round by round, are in `{json_rel}` on the machine that ran it (bench/results/ is not committed).",
        "",
    ]
    return "\n".join(out)


def report(result, json_path):
    main, daemon, extra = tables(result)
    print()
    print(main)
    if daemon:
        print()
        print(daemon)
    for e in extra:
        print(e)
    errs = result["summary"].get("errors")
    if errs:
        print("\nFailures:")
        for t, es in errs.items():
            for e in es:
                print(f"  {t}: {e[:300]}")
    cfg = result["config"]
    if cfg.get("write_docs"):
        md_path = os.path.join(REPO, "docs", "benchmarks.md")
        png_path = os.path.join(REPO, "docs", "benchmarks.png")
    else:
        base = os.path.splitext(json_path)[0]
        md_path, png_path = base + ".md", base + ".png"
    have_png = plot(result, png_path)
    json_rel = os.path.relpath(json_path, REPO)
    with open(md_path, "w") as f:
        f.write(markdown(result, main, daemon, extra,
                         os.path.basename(png_path) if have_png else "(no plot)", json_rel))
    log(f"bench: wrote {md_path}" + (f" and {png_path}" if have_png else ""))


def cmd_report(path):
    with open(path) as f:
        result = json.load(f)
    result["summary"] = summarize(result)
    wd = os.environ.get("BENCH_WRITE_DOCS", "")
    if wd:
        result["config"]["write_docs"] = wd == "1"
    report(result, os.path.abspath(path))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "run":
        return cmd_run()
    if len(argv) == 3 and argv[1] == "report":
        return cmd_report(argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
