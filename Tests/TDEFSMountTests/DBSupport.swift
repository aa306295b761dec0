import XCTest
import Foundation
import Glibc

/// Shared support for the database tests (DB*.swift): real servers from Debian's packages, started
/// as their own users on private Unix sockets under the test's temporary directory.
enum DB {
    static let pgBin = "/usr/lib/postgresql/15/bin"
    static let runuser = "/usr/sbin/runuser"
    /// Debian's python3 (its sqlite3 module uses Debian's libsqlite3), never a pyenv shim on PATH.
    static let python = "/usr/bin/python3"

    /// Tests/Support, beside the test target (helper scripts the tests run).
    static var supportDir: String { Harness.packageRoot() + "/Tests/Support" }

    /// Builds Tests/Support/lazyfs.c (a FUSE layer that can drop unsynced data, or be stopped to
    /// hang what is below a mount) into `dir`; returns the binary's path.
    static func buildLazyFS(into dir: String) throws -> String {
        let bin = dir + "/lazyfs"
        let cc = Harness.which("cc") ?? Harness.which("gcc") ?? Harness.which("clang")
        guard let cc else { throw HarnessError("no C compiler (cc) to build Tests/Support/lazyfs.c") }
        let r = runCommand("/bin/sh", ["-c", "exec \"$0\" -O2 -Wall -o \"$1\" \"$2\" $(pkg-config fuse3 --cflags --libs) -lpthread",
                                       cc, bin, supportDir + "/lazyfs.c"])
        guard r.status == 0 else { throw HarnessError("building lazyfs failed: \(r.summary)") }
        return bin
    }

    /// A tool that must exist: a test that needs a missing tool fails (scripts/test-deps.sh installs them).
    static func tool(_ path: String) throws -> String {
        guard access(path, X_OK) == 0 else {
            throw HarnessError("\(path) is missing: run scripts/test-deps.sh as root (it installs the database packages)")
        }
        return path
    }

    static func pg(_ name: String) throws -> String { try tool("\(pgBin)/\(name)") }

    /// A seed for random moments: TDEFS_DB_SEED replays a run; the seed is always printed.
    static func seed(_ label: String) -> UInt64 {
        let s: UInt64
        if let v = ProcessInfo.processInfo.environment["TDEFS_DB_SEED"], let n = UInt64(v) { s = n } else {
            s = UInt64.random(in: 1...UInt64(1) << 48)
        }
        print("\(label): db seed \(s) (replay with TDEFS_DB_SEED=\(s))")
        return s
    }

    static func userIDs(_ name: String) -> (uid_t, gid_t)? {
        guard let pw = getpwnam(name) else { return nil }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    /// mkdir -p, then chown to `user` and chmod.
    static func makeDir(_ path: String, owner user: String? = nil, mode: mode_t = 0o755) throws {
        guard runCommand("/bin/mkdir", ["-p", path]).status == 0 else { throw HarnessError("mkdir -p \(path) failed") }
        if let user {
            guard let (u, g) = userIDs(user) else { throw HarnessError("user \(user) does not exist") }
            guard chown(path, u, g) == 0 else { throw HarnessError("chown \(path): \(errName(errno))") }
        }
        guard chmod(path, mode) == 0 else { throw HarnessError("chmod \(path): \(errName(errno))") }
    }

    /// An empty file owned by `user`.
    static func makeFile(_ path: String, owner user: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw HarnessError("create \(path): \(errName(errno))") }
        close(fd)
        if let (u, g) = userIDs(user) { chown(path, u, g) }
    }

    /// argv that runs `exe args` as `user`, from a directory that user can enter.
    static func asUser(_ user: String?, _ exe: String, _ args: [String]) -> (String, [String]) {
        guard let user else { return (exe, args) }
        return (runuser, ["-u", user, "--", "/bin/sh", "-c", "cd /tmp && exec \"$0\" \"$@\"", exe] + args)
    }

    @discardableResult
    static func run(as user: String?, _ exe: String, _ args: [String], env: [String: String] = [:]) -> CommandResult {
        let (e, a) = asUser(user, exe, args)
        return runCommand(e, a, env: env)
    }

    /// Runs and throws with the output when the exit status is not 0.
    @discardableResult
    static func must(as user: String?, _ exe: String, _ args: [String], env: [String: String] = [:]) throws -> CommandResult {
        let r = run(as: user, exe, args, env: env)
        guard r.status == 0 else {
            throw HarnessError("\(exe) \(args.joined(separator: " ")) failed: \(r.summary)")
        }
        return r
    }

    static func readFile(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    static func sleep(_ seconds: Double) { usleep(useconds_t(max(0, seconds) * 1_000_000)) }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Waits until `cond` holds (polling), up to `timeout` seconds.
    static func wait(_ timeout: Double, _ what: String, _ cond: () -> Bool) throws {
        let end = now() + timeout
        while !cond() {
            if now() > end { throw HarnessError("timed out after \(Int(timeout)) s waiting for \(what)") }
            usleep(100_000)
        }
    }

    /// The children of `pid`, from /proc.
    static func children(of pid: pid_t) -> [pid_t] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var out = [pid_t]()
        for n in names {
            guard let p = pid_t(n) else { continue }
            let stat = readFile("/proc/\(p)/stat")
            // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
            guard let r = stat.range(of: ")", options: .backwards) else { continue }
            let fields = stat[r.upperBound...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == pid { out.append(p) }
        }
        return out
    }

    static func isAlive(_ pid: pid_t) -> Bool {
        if kill(pid, 0) != 0 { return false }
        // A zombie counts as dead.
        let stat = readFile("/proc/\(pid)/stat")
        guard let r = stat.range(of: ")", options: .backwards) else { return false }
        return !stat[r.upperBound...].hasPrefix(" Z")
    }

    /// Waits (up to 30 s) until the killed processes are gone, reaping those that are our children;
    /// a server restarted too early would still see its predecessor's PID alive.
    static func awaitGone(_ pids: [pid_t]) {
        let end = now() + 30
        for p in pids {
            while true {
                var status: Int32 = 0
                _ = waitpid(p, &status, WNOHANG)
                let stat = readFile("/proc/\(p)/stat")
                if stat.isEmpty { break }
                if now() > end {
                    print("DB.awaitGone: process \(p) is still there: \(stat.prefix(200))")
                    break
                }
                usleep(20_000)
            }
        }
    }

    /// The process that holds BACKING/tdefs.lock open: the tdefs daemon of a mounted volume.
    static func daemonPID(backing: String) -> pid_t? {
        var real = backing
        if let r = realpath(backing, nil) { real = String(cString: r); free(r) }
        let lock = real + "/tdefs.lock"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for n in names {
            guard let p = pid_t(n), p != getpid() else { continue }
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(n)/fd") else { continue }
            for fd in fds {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(n)/fd/\(fd)"), target == lock {
                    return p
                }
            }
        }
        return nil
    }

    /// SIGKILL the volume's daemon, clear the dead mount (fusermount3 -u -z) and wait until the lock is free.
    static func crashDaemon(_ vol: TestVolume) throws {
        if let pid = daemonPID(backing: vol.backing) { kill(pid, SIGKILL) }
        try wait(30, "the killed tdefs daemon to release its lock") { daemonPID(backing: vol.backing) == nil }
        _ = runCommand(Harness.which("fusermount3") ?? "/usr/bin/fusermount3", ["-u", "-z", vol.mnt])
        try wait(30, "the dead mount to go") { !isMounted(vol.mnt) }
        vol.unmount()
    }
}

/// A process started in the background (posix_spawn), with its stdin/stdout/stderr on files.
final class Background {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private(set) var exitStatus: Int32?
    private let temporaries: [String]

    deinit {
        if running { kill(pid, SIGKILL); wait() }
        for t in temporaries { unlink(t) }
    }

    init(_ exe: String, _ args: [String], as user: String? = nil, stdin: String = "/dev/null",
         stdout: String? = nil, stderr: String? = nil, env extra: [String: String] = [:]) throws {
        let (e, a) = DB.asUser(user, exe, args)
        stdoutPath = stdout ?? makeTempFile()
        stderrPath = stderr ?? makeTempFile()
        temporaries = (stdout == nil ? [stdoutPath] : []) + (stderr == nil ? [stderrPath] : [])
        pid = try spawnProcess(e, a, env: extra, stdin: stdin, stdout: stdoutPath, stderr: stderrPath)
    }

    /// Non-blocking: whether it has exited (and reaps it).
    var running: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { exitStatus = shellStatus(status); return false }
        return r == 0
    }

    @discardableResult
    func wait() -> Int32 {
        if let s = exitStatus { return s }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = shellStatus(status)
        return exitStatus!
    }

    /// Waits up to `timeout` seconds; nil when still running.
    func wait(timeout: Double) -> Int32? {
        let end = DB.now() + timeout
        while running { if DB.now() > end { return nil }; usleep(50_000) }
        return exitStatus
    }

    func signal(_ sig: Int32) { if exitStatus == nil { kill(pid, sig) } }

    /// SIGTERM, then SIGKILL after `grace` seconds.
    func stop(grace: Double = 10) {
        guard running else { return }
        signal(SIGTERM)
        if wait(timeout: grace) == nil { signal(SIGKILL); wait() }
    }

    var stdoutText: String { DB.readFile(stdoutPath) }
    var stderrText: String { DB.readFile(stderrPath) }
}

/// A PostgreSQL 15 cluster whose data directory is `dataDir` (normally inside a tdefs mount),
/// listening only on a Unix socket in `socketDir`.
final class PGCluster {
    let dataDir: String
    let socketDir: String
    let logFile: String
    let port: Int
    let user = "postgres"

    init(dataDir: String, socketDir: String, logFile: String, port: Int = Int.random(in: 20000...29999)) {
        self.dataDir = dataDir
        self.socketDir = socketDir
        self.logFile = logFile
        self.port = port
    }

    /// initdb -k as postgres, configured for a private socket and no TCP.
    func initdb(extraConf: [String] = []) throws {
        try DB.makeDir(socketDir, owner: user, mode: 0o755)
        try DB.makeFile(logFile, owner: user)
        try DB.must(as: user, try DB.pg("initdb"), ["-k", "-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                                   "--locale=C.UTF-8"])
        let conf = [
            "listen_addresses = ''",
            "unix_socket_directories = '\(socketDir)'",
            "port = \(port)",
            "fsync = on",
            "synchronous_commit = on",
            "full_page_writes = on",
            "max_connections = 40",
            "shared_buffers = 128MB",
            "logging_collector = off",
        ] + extraConf
        let fh = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDir + "/postgresql.conf"))
        fh.seekToEndOfFile()
        fh.write(("\n# tdefs tests\n" + conf.joined(separator: "\n") + "\n").data(using: .utf8)!)
        try fh.synchronize() // durable like the rest of initdb's work (the power-loss test cuts below it)
        try fh.close()
    }

    /// pg_ctl start -w (crash recovery included), with a generous timeout.
    func start() throws {
        // The private socket and no TCP also on the command line: never the system's default port or socket.
        let r = DB.run(as: user, try DB.pg("pg_ctl"), ["-D", dataDir, "-l", logFile, "-w", "-t", "600",
                                                      "-o", "-k \(socketDir) -p \(port) -c listen_addresses=''", "start"])
        guard r.status == 0 else {
            throw HarnessError("pg_ctl start failed: \(r.summary)\nserver log (tail): \(String(DB.readFile(logFile).suffix(4000)))")
        }
        pid = postmasterPID()
    }

    /// The running postmaster's PID, read at start (the data directory may be unreadable at crash time).
    private(set) var pid: pid_t?

    func stop(mode: String = "fast") throws {
        try DB.must(as: user, try DB.pg("pg_ctl"), ["-D", dataDir, "-m", mode, "-w", "-t", "600", "stop"])
    }

    /// The postmaster's PID (first line of postmaster.pid).
    func postmasterPID() -> pid_t? {
        guard let line = DB.readFile(dataDir + "/postmaster.pid").split(separator: "\n").first else { return nil }
        return pid_t(line)
    }

    /// SIGKILL the postmaster and every backend and auxiliary process it started.
    func crash() {
        guard let pm = pid ?? postmasterPID() else { return }
        pid = nil
        let kids = DB.children(of: pm)
        kill(pm, SIGKILL)
        for k in kids { kill(k, SIGKILL) }
        // Late forks (a backend started in between) are the postmaster's children too.
        let late = DB.children(of: pm)
        for k in late { kill(k, SIGKILL) }
        DB.awaitGone([pm] + kids + late)
    }

    var connArgs: [String] { ["-h", socketDir, "-p", "\(port)", "-U", "postgres"] }

    /// psql -At -c SQL; throws on error.
    @discardableResult
    func psql(_ sql: String, db: String = "postgres") throws -> String {
        let r = DB.run(as: user, try DB.pg("psql"), ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"] + connArgs + ["-d", db, "-c", sql])
        guard r.status == 0 else {
            throw HarnessError("psql -c \(sql) failed: \(r.summary)\nserver log (tail): \(String(DB.readFile(logFile).suffix(3000)))")
        }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// pg_amcheck --all (heap and btree, with parent checks); throws with its output when not clean.
    func amcheck() throws -> String {
        let r = DB.run(as: user, try DB.pg("pg_amcheck"), connArgs + ["--all", "--install-missing", "--heapallindexed", "--parent-check",
                                                                      "--progress"])
        guard r.status == 0, r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw HarnessError("pg_amcheck --all is not clean: \(r.summary)")
        }
        return r.stderr
    }

    /// pg_checksums --check on the stopped cluster; returns its report.
    func checksums() throws -> String {
        let r = DB.run(as: user, try DB.pg("pg_checksums"), ["--check", "-D", dataDir])
        guard r.status == 0 else { throw HarnessError("pg_checksums --check failed: \(r.summary)") }
        return r.stdout
    }
}

/// A tdefs volume for a database: initialised and mounted with allow_other, plus a socket directory
/// outside the mount. Its base directory is 0755 so the database users can traverse it.
final class DBVolume {
    let vol: TestVolume
    var mnt: String { vol.mnt }
    var base: String { vol.base }

    init(prefix: String) throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        vol = TestVolume(bin: bin, prefix: prefix)
        try vol.initVolume()
        try mount()
    }

    func mount() throws {
        try vol.mount(options: ["allow_other"])
        chmod(vol.mnt, 0o755)
    }

    func unmount() throws {
        let r = vol.tdefs(["unmount", vol.mnt])
        if r.status != 0 { vol.unmount() }
        guard !isMounted(vol.mnt) else { throw HarnessError("could not unmount \(vol.mnt): \(r.summary)") }
    }

    /// tdefs fsck of the unmounted volume; throws when not clean.
    @discardableResult
    func fsck() throws -> String {
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        guard r.status == 0 else { throw HarnessError("tdefs fsck is not clean: \(r.summary)") }
        return r.stdout
    }

    func destroy() { vol.destroy() }
}
