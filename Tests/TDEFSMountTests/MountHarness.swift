import XCTest
import Foundation
import Glibc

/// Shared harness for tests that mount tdefs for real: finds the binary, makes a temporary volume
/// (backing directory, mount point, key file), runs `tdefs` commands and tears everything down.
///
/// With TDEFS_REQUIRE_FUSE=1 (as .ci/run sets) a machine that cannot mount makes the tests fail;
/// without it they skip. A mount that the binary itself refuses is always a failure.
enum Harness {
    static var fuseRequired: Bool { ProcessInfo.processInfo.environment["TDEFS_REQUIRE_FUSE"] == "1" }

    /// Self-check of the tests' own expectations: with TDEFS_TEST_PLAIN_DIR=1, "mounting" does nothing and
    /// the tests run against the plain host directory (ext4), which must pass the POSIX tests.
    static var plainDirMode: Bool { ProcessInfo.processInfo.environment["TDEFS_TEST_PLAIN_DIR"] == "1" }

    static var tmpBase: String { ProcessInfo.processInfo.environment["TDEFS_TEST_TMPDIR"] ?? "/tmp" }

    /// The package root, from this file's path (Tests/TDEFSMountTests/MountHarness.swift).
    static func packageRoot(file: String = #filePath) -> String {
        var url = URL(fileURLWithPath: file)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    static func binaryPath() -> String? {
        var candidates = [String]()
        if let b = ProcessInfo.processInfo.environment["TDEFS_BIN"], !b.isEmpty { return b }
        // Beside the test bundle: <scratch>/<triple>/debug/tdefsPackageTests.xctest -> <scratch>/<triple>/debug/tdefs
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("tdefs").path)
        }
        let root = packageRoot()
        candidates += [root + "/.build/debug/tdefs", root + "/.build-tests/debug/tdefs"]
        return candidates.first { access($0, X_OK) == 0 }
    }

    static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
            let p = "\(dir)/\(tool)"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    /// Throws XCTSkip (or, when FUSE is required, a failure) when this machine cannot mount.
    static func requireMountable(needsRoot: Bool = false) throws -> String {
        var problems = [String]()
        let fd = open("/dev/fuse", O_RDWR)
        if fd < 0 { problems.append("/dev/fuse cannot be opened (errno \(errno))") } else { close(fd) }
        if which("fusermount3") == nil { problems.append("fusermount3 is not installed") }
        let bin = binaryPath()
        if bin == nil { problems.append("the tdefs binary was not found (build it, or set TDEFS_BIN)") }
        if needsRoot && geteuid() != 0 { problems.append("this test needs root") }
        if !problems.isEmpty {
            let msg = "cannot mount: " + problems.joined(separator: "; ")
            if fuseRequired { throw HarnessError("TDEFS_REQUIRE_FUSE=1 and " + msg) }
            throw XCTSkip(msg)
        }
        return bin!
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
    /// The command was still running at its deadline and was killed (see runCommand's `deadline`).
    var hung = false
    var summary: String { (hung ? "HUNG (killed at its deadline)\n" : "") + "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Starts `exe` with posix_spawn: stdin from the file `stdin`, stdout and stderr appended to the
/// files given (created with `mode` if missing); the environment is ours plus `extra`, minus
/// `removeEnv`. Output goes through files, not pipes, so that a daemon that inherits them cannot
/// keep anyone waiting for end-of-file. The one place the tests start processes.
func spawnProcess(_ exe: String, _ args: [String], env extra: [String: String] = [:], removeEnv: [String] = [],
                  stdin: String = "/dev/null", stdout: String, stderr: String, mode: mode_t = 0o644) throws -> pid_t {
    var env = ProcessInfo.processInfo.environment
    for k in removeEnv { env[k] = nil }
    for (k, v) in extra { env[k] = v }
    let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, mode)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, mode)
    var pid = pid_t()
    let rc = posix_spawn(&pid, exe, &actions, nil, argv, envp)
    guard rc == 0 else { throw HarnessError("could not start \(exe): \(errName(rc))") }
    return pid
}

/// A wait status as a shell reports it: the exit code, or 128+N for signal N (WIFEXITED and
/// friends are macros Swift cannot see).
func shellStatus(_ status: Int32) -> Int32 {
    (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Runs a program to completion and returns its status and output. With a `deadline` (seconds),
/// a program still running then is killed (SIGKILL, by its PID) and the result is marked `hung`:
/// a test of something that must not hang fails instead of blocking the run. The deadline is a
/// bound on a hang, never a measurement.
func runCommand(_ exe: String, _ args: [String], env extra: [String: String] = [:], deadline: Int? = nil) -> CommandResult {
    let outPath = makeTempFile(), errPath = makeTempFile()
    defer { unlink(outPath); unlink(errPath) }
    let pid: pid_t
    do {
        pid = try spawnProcess(exe, args, env: extra, stdout: outPath, stderr: errPath)
    } catch {
        return CommandResult(status: -1, stdout: "", stderr: "\(error)")
    }
    var status: Int32 = 0
    var hung = false
    if let deadline {
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { break }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            if now.tv_sec - start.tv_sec >= deadline {
                hung = true
                kill(pid, SIGKILL)
                // A process waiting for a FUSE reply that never comes cannot die until the daemon
                // answers: give it a little while, then leave it (the caller unblocks the daemon).
                for _ in 0..<250 where waitpid(pid, &status, WNOHANG) != pid { usleep(20_000) }
                break
            }
            usleep(20_000)
        }
    } else {
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return CommandResult(status: shellStatus(status), stdout: out, stderr: err, hung: hung)
}

func makeTempFile() -> String {
    var t = Array("\(Harness.tmpBase)/tdefs-test-out-XXXXXX".utf8CString)
    let fd = t.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0, "mkstemp failed")
    close(fd)
    return t.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

func makeTempDir(_ prefix: String) -> String {
    var t = Array("\(Harness.tmpBase)/\(prefix)-XXXXXX".utf8CString)
    let p = t.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return String(cString: p!)
}

/// Mount points currently in this process's mount namespace.
func mountedPaths() -> [String] {
    guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { line in
        let f = line.split(separator: " ")
        guard f.count > 4 else { return nil }
        // Undo mountinfo's octal escapes (\040 for a space and so on).
        var s = String(f[4]), out = ""
        while let r = s.range(of: "\\") {
            out += s[..<r.lowerBound]
            let code = s[r.upperBound...].prefix(3)
            if code.count == 3, let v = UInt8(code, radix: 8) { out.append(Character(UnicodeScalar(v))) }
            s = String(s[r.upperBound...].dropFirst(3))
        }
        return out + s
    }
}

func isMounted(_ path: String) -> Bool {
    var real = path
    if let r = realpath(path, nil) { real = String(cString: r); free(r) }
    let paths = mountedPaths()
    return paths.contains(real) || paths.contains(path)
}

/// A temporary volume: BASE/{backing, mnt, key, plain}. Nothing is mounted until `mount()`.
final class TestVolume {
    let bin: String
    let base: String
    let backing: String
    let mnt: String
    let keyFile: String
    /// A plain directory on the same filesystem as the backing directory, for oracle comparisons.
    let plain: String
    let logFile: String
    private(set) var mounted = false

    init(bin: String, prefix: String = "tdefs-test") {
        self.bin = bin
        base = makeTempDir(prefix)
        chmod(base, 0o755)
        backing = base + "/backing"
        mnt = base + "/mnt"
        keyFile = base + "/key"
        plain = base + "/plain"
        logFile = base + "/daemon.log"
        mkdir(backing, 0o755)
        mkdir(mnt, 0o755)
        mkdir(plain, 0o755)
        writeKeyFile(keyFile)
    }

    /// A new key file of 32 random bytes, mode 0600.
    func writeKeyFile(_ path: String) {
        var key = [UInt8](repeating: 0, count: 32)
        let fd = open("/dev/urandom", O_RDONLY)
        precondition(fd >= 0)
        _ = key.withUnsafeMutableBytes { read(fd, $0.baseAddress, 32) }
        close(fd)
        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(out >= 0)
        _ = key.withUnsafeBytes { write(out, $0.baseAddress, 32) }
        fchmod(out, 0o600)
        close(out)
    }

    @discardableResult
    func tdefs(_ args: [String], env: [String: String] = [:], deadline: Int? = nil) -> CommandResult {
        runCommand(bin, args, env: env, deadline: deadline)
    }

    func initVolume(_ extra: [String] = [], keyArgs: [String]? = nil, env: [String: String] = [:]) throws {
        let r = tdefs(["init", backing] + (keyArgs ?? ["--key-file", keyFile]) + extra, env: env)
        guard r.status == 0 else { throw HarnessError("tdefs init failed: \(r.summary)") }
    }

    /// Mounts in daemon mode (returns when live). The daemon's stderr goes to `logFile`.
    func mount(options: [String] = [], keyArgs: [String]? = nil, env: [String: String] = [:]) throws {
        if Harness.plainDirMode { mounted = true; return }
        var e = env
        e["TDEFS_LOG_FILE"] = e["TDEFS_LOG_FILE"] ?? logFile
        var args = ["mount", backing, mnt] + (keyArgs ?? ["--key-file", keyFile])
        if !options.isEmpty { args += ["-o", options.joined(separator: ",")] }
        let r = tdefs(args, env: e)
        guard r.status == 0 else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            throw HarnessError("tdefs mount failed: \(r.summary)\ndaemon log: \(log)")
        }
        guard isMounted(mnt) else { throw HarnessError("tdefs mount exited 0 but \(mnt) is not a mount point") }
        mounted = true
    }

    /// fusermount3 -u, retried while busy; lazy (-z) as the last resort. Then waits for the daemon
    /// to let go of the volume lock, so that a following mount or a raw look at the backing
    /// directory sees everything it wrote.
    func unmount() {
        if Harness.plainDirMode { mounted = false; return }
        if isMounted(mnt) {
            var done = false
            for _ in 0..<50 {
                if runCommand(Harness.which("fusermount3") ?? "/usr/bin/fusermount3", ["-u", mnt]).status == 0 { done = true; break }
                if !isMounted(mnt) { done = true; break }
                usleep(100_000)
            }
            if !done { _ = runCommand(Harness.which("fusermount3") ?? "/usr/bin/fusermount3", ["-u", "-z", mnt]) }
        }
        mounted = false
        waitForDaemonExit()
    }

    /// Waits (bounded) until no process holds the flock on BACKING/tdefs.lock.
    func waitForDaemonExit() {
        let lock = backing + "/tdefs.lock"
        for _ in 0..<300 {
            let fd = open(lock, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            if fd < 0 { return }
            let free = flock(fd, LOCK_EX | LOCK_NB) == 0
            if free { flock(fd, LOCK_UN) }
            close(fd)
            if free { return }
            usleep(100_000)
        }
    }

    func destroy() {
        unmount()
        if !isMounted(mnt) {
            _ = runCommand("/bin/rm", ["-rf", base])
        }
    }

    /// Replaces the backing directory and key by Tests/Fixtures/LegacyConfig: a volume made by a
    /// release before tdefs.conf was sealed (and before volume profiles).
    func replaceWithLegacyConfigFixture() throws {
        let fixtures = URL(fileURLWithPath: Harness.packageRoot()).appendingPathComponent("Tests/Fixtures/LegacyConfig").path
        guard runCommand("/bin/rm", ["-rf", backing]).status == 0,
              runCommand("/bin/tar", ["-C", base, "-xf", fixtures + "/backing.tar"]).status == 0,
              runCommand("/bin/cp", [fixtures + "/key", keyFile]).status == 0 else {
            throw HarnessError("cannot install the fixture \(fixtures)")
        }
        chmod(keyFile, 0o600)
    }

    func daemonLog() -> String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }
}

/// Base class: a fresh volume, initialised and mounted, per test.
class MountTestCase: XCTestCase {
    var vol: TestVolume!
    var m: String { vol.mnt }

    /// Options for `tdefs mount -o`; subclasses override.
    var mountOptions: [String] { [] }
    /// Extra options for `tdefs init`; subclasses override (`generalProfile` for user.* attributes).
    var initOptions: [String] { [] }
    /// A volume that keeps user.* extended attributes (`init` makes a database volume by default).
    static let generalProfile = ["--profile", "general"]
    var needsRoot: Bool { false }

    override func setUpWithError() throws {
        try super.setUpWithError()
        let bin = try Harness.requireMountable(needsRoot: needsRoot)
        vol = TestVolume(bin: bin, prefix: "tdefs-\(String(describing: type(of: self)))")
        try vol.initVolume(initOptions)
        try vol.mount(options: mountOptions)
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
        super.tearDown()
    }
}

extension MountTestCase {
    /// Starts `tdefs args` and SIGKILLs it after `delay` microseconds (if still running); its wait status.
    func runAndKill(_ args: [String], after delay: UInt32) -> Int32 {
        guard let pid = try? spawnProcess(vol.bin, args, stdout: "/dev/null", stderr: "/dev/null") else { return -1 }
        usleep(delay)
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }
}
