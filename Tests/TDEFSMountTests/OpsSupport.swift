import XCTest
import Foundation
import Glibc

/// Helpers for the Ops* tests (systemd integration, fstab helper, credentials): a process that
/// keeps running while the test talks to it, a notify socket, and tool lookup that fails (never
/// skips) when FUSE is required and a tool that scripts/test-deps.sh installs is missing.
enum Ops {
    /// The path of a tool the tests need; with TDEFS_REQUIRE_FUSE=1 a missing tool is a failure.
    static func tool(_ name: String, package: String) throws -> String {
        if let path = Harness.which(name) { return path }
        let msg = "\(name) is not installed (Debian package \(package); scripts/test-deps.sh installs it)"
        if Harness.fuseRequired { throw HarnessError("TDEFS_REQUIRE_FUSE=1 and " + msg) }
        throw XCTSkip(msg)
    }

    static func requireRoot() throws {
        guard geteuid() != 0 else { return }
        if Harness.fuseRequired { throw HarnessError("TDEFS_REQUIRE_FUSE=1 and this test needs root") }
        throw XCTSkip("this test needs root")
    }

    static func isMountPoint(_ path: String) -> Bool {
        guard let st = statOrNil(path), let parent = statOrNil(path + "/..") else { return false }
        return st.st_dev != parent.st_dev
    }

    /// The type of the mount at `path` (field after " - " in mountinfo), if any.
    static func mountType(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        var found: String?
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            let f = halves[0].split(separator: " ")
            guard halves.count == 2, f.count > 4, String(f[4]) == path else { continue }
            found = halves[1].split(separator: " ").first.map(String.init)
        }
        return found
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}

/// A child process started with posix_spawn; stdout and stderr go to files.
final class SpawnedProcess {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private var exitCode: Int32?

    init(_ exe: String, _ args: [String], env extra: [String: String] = [:], removeEnv: [String] = [],
         stderrPath: String? = nil) throws {
        stdoutPath = makeTempFile()
        self.stderrPath = stderrPath ?? makeTempFile()
        pid = try spawnProcess(exe, args, env: extra, removeEnv: removeEnv, stdout: stdoutPath,
                               stderr: self.stderrPath, mode: 0o600)
    }

    /// Waits for the exit; the status as a shell reports it (128+N for signal N).
    func wait() -> Int32 {
        if let exitCode { return exitCode }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = shellStatus(status)
        exitCode = code
        return code
    }

    /// Ends the process if the test left it running (only this process, by its PID).
    func stop() {
        guard exitCode == nil else { return }
        kill(pid, SIGTERM)
        _ = wait()
    }

    var stdout: String { Ops.read(stdoutPath) }
    var stderr: String { Ops.read(stderrPath) }
}

/// A bound AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET.
final class NotifySocket {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errName(errno))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw HarnessError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { dst in
            for (i, b) in bytes.enumerated() { dst[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw HarnessError("bind \(path): \(errName(errno))") }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The next datagram; nil when none comes within `limitSeconds` (a safety bound so that a
    /// broken daemon fails the test instead of hanging it, not a timing assertion).
    func receive(limitSeconds: Int32 = 120) -> String? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&pfd, 1, limitSeconds * 1000)
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { return nil }
            break
        }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n], as: UTF8.self)
    }

    /// Datagrams up to and including the first that holds `assignment` as one of its lines.
    func receive(until assignment: String, limitSeconds: Int32 = 120) -> (messages: [String], found: Bool) {
        var messages = [String]()
        while let m = receive(limitSeconds: limitSeconds) {
            messages.append(m)
            if m.split(separator: "\n").contains(Substring(assignment)) { return (messages, true) }
        }
        return (messages, false)
    }
}
