#!/usr/bin/env python3
"""Counts what each FUSE target does per small file: the kernel's requests to the daemon and the
daemon's system calls on the backing filesystem, for the small-file tree's four phases (issue #13,
"count them per created file ... against securefs and passthrough_ll").

    python3 bench/backing_ops.py [FILES]      # as root, after bench/run.sh has built the targets

Each target is mounted as bench.py mounts it; `strace -c -f -p DAEMON` runs around each phase
(`tar -x`, `ls -lR`, reading every file, `rm -rf`). Requests are the daemon's reads of /dev/fuse
(one per request; the last read of a phase may still be waiting), replies its writev calls;
backing calls are every other system call except futex and the thread machinery, which is how
the daemon waits, not what it asks of the disk. strace slows the daemon down: counts, not times.
Prints a table (Markdown) per phase: calls per file, by target.
"""
import collections
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (targets, the tree, helpers)

TARGETS = ["passthrough", "passthrough-fair", "tdefs", "tdefs-general", "securefs", "gocryptfs"]
NOT_BACKING = {"futex", "read", "writev", "restart_syscall", "rt_sigprocmask", "clone3", "rseq",
               "set_robust_list", "mmap", "munmap", "mprotect", "madvise", "brk", "gettid",
               "sched_yield", "nanosleep", "clock_nanosleep", "epoll_pwait", "epoll_wait", "poll",
               "ppoll", "accept4", "exit", "getpid"}


def strace_counts(pid, action):
    out = f"/tmp/tdefs-backing-ops.{os.getpid()}.txt"
    tracer = subprocess.Popen(["strace", "-c", "-f", "-q", "-p", str(pid), "-o", out],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # strace attaches to every thread
    try:
        action()
        os.sync()
        time.sleep(0.5)
    finally:
        tracer.send_signal(2)
        tracer.wait(timeout=30)
    counts = collections.Counter()
    with open(out) as f:
        for line in f:
            parts = line.split()
            # "% time seconds usecs/call calls [errors] syscall"
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                counts[parts[-1]] += int(parts[3])
    os.unlink(out)
    return counts


def main():
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cfg = bench.load_config()
    cfg.update(files=files, targets=TARGETS)
    bench.check_tools(cfg)
    os.makedirs(os.path.join(cfg["workdir"], "logs"), exist_ok=True)
    info = bench.tree_info(cfg)
    phases = [("extract", lambda d: bench.run(["tar", "-xf", info["tar"], "-C", d])),
              ("ls -lR", lambda d: bench.run(["sh", "-c", 'ls -lR "$1" >/dev/null', "sh", d + "/tree"])),
              ("read all", lambda d: bench.read_all(d + "/tree")),
              ("rm -rf", lambda d: bench.run(["rm", "-rf", d + "/tree"]))]
    table = {}
    for name in TARGETS:
        t = bench.TARGET_CLASSES[name](name, cfg, os.path.join(cfg["workdir"], "ops-" + name))
        t.prepare()
        bench.CLEANUP.targets.append(t)
        t.mount()
        try:
            for phase, action in phases:
                bench.drop_caches()
                c = strace_counts(t.pid(), lambda: action(t.dir()))
                backing = sum(n for s, n in c.items() if s not in NOT_BACKING)
                top = ", ".join(f"{s} {n / files:.1f}" for s, n in c.most_common()
                                if s not in NOT_BACKING and n / files >= 0.5)
                table[(phase, name)] = (c["read"] / files, backing / files, top)
        finally:
            t.unmount()
            bench.CLEANUP.targets.remove(t)
    print(f"Per file of a {files:,}-file tree ({info['dirs']} directories), counted with strace -c:\n")
    for phase, _ in phases:
        print(f"**{phase}**\n\n| target | FUSE requests | backing calls | the most frequent (per file) |\n|---|---|---|---|")
        for name in TARGETS:
            req, backing, top = table[(phase, name)]
            print(f"| {name} | {req:.1f} | {backing:.1f} | {top} |")
        print()


if __name__ == "__main__":
    try:
        main()
    finally:
        bench.CLEANUP.run()
