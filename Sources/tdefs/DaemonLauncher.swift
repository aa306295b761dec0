import CPlatform
import Glibc
import TDEFSCore

/// The parent side of a background mount: starts `tdefs mount ... --foreground` as a daemon in a
/// new session, hands it the key material through a pipe and waits until it reports the mount
/// live ("ok") or failed. The child also inherits the volume lock's descriptor, so the lock never
/// lapses between parent and daemon.
enum DaemonLauncher {
    /// How long the parent waits for the daemon's verdict before giving up on it.
    static let readyTimeoutSeconds: Int32 = 120

    /// `lock` is nil for a source that has none (an eCryptfs lower directory, never written);
    /// `extraArguments` go to the daemon's command line after the paths (no key material there).
    static func launch(backingPath: String, mountPath: String, options: MountOptionList,
                       material: SecureBytes, lock: VolumeLock?, extraArguments: [String] = []) throws(CLIError) {
        let secretPipe = try makePipe()   // [read: child, write: parent]
        let readyPipe = try makePipe()    // [read: parent, write: child]
        // The child's ends and the lock stay open across exec; everything else does not.
        _ = fcntl(secretPipe.1, F_SETFD, FD_CLOEXEC)
        _ = fcntl(readyPipe.0, F_SETFD, FD_CLOEXEC)
        var inherited: Set<Int32> = [secretPipe.0, readyPipe.1]
        if let lock { inherited.insert(lock.fd) }
        for fd in inherited { _ = fcntl(fd, F_SETFD, 0) }
        markOthersCloseOnExec(keeping: inherited)

        let devNullIn = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let output = logOutput()
        defer {
            if devNullIn >= 0 { close(devNullIn) }
            if output >= 0 { close(output) }
        }

        var argv = [executablePath(), "mount", backingPath, mountPath, "--foreground",
                    "--secret-fd", String(secretPipe.0), "--ready-fd", String(readyPipe.1)]
        if let lock { argv += ["--lock-fd", String(lock.fd)] }
        argv += extraArguments
        if !options.all.isEmpty { argv += ["-o", options.all.joined(separator: ",")] }
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { (s: String) in strdup(s) }
        defer { cArgs.forEach { free($0) } }
        var cArgv = cArgs + [nil]

        signal(SIGPIPE, SIG_IGN)
        var pid: pid_t = 0
        let rc = tdefs_spawn_daemon(&pid, "/proc/self/exe", &cArgv, environ, devNullIn, output, output)
        close(secretPipe.0)
        close(readyPipe.1)
        guard rc == 0 else {
            close(secretPipe.1)
            close(readyPipe.0)
            throw CLIError(.mountFailed, "cannot start the mount daemon: \(Errno(rc))")
        }

        material.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = write(secretPipe.1, b.baseAddress! + done, b.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }  // the child is gone: its verdict (or EOF) says why
                done += n
            }
        }
        close(secretPipe.1)

        let line = readLine(readyPipe.0, timeoutSeconds: readyTimeoutSeconds)
        close(readyPipe.0)
        switch line.flatMap(ReadyChannel.parse) {
        case .ready?:
            return
        case .failed(let status, let message)?:
            _ = Subprocess.wait(pid)
            throw CLIError(status, message)
        case nil:
            if line == nil {
                // Timed out while the daemon still runs: stop it rather than leave it half-started.
                kill(pid, SIGTERM)
                _ = Subprocess.wait(pid)
                throw CLIError(.mountFailed, "the mount daemon did not become ready within \(readyTimeoutSeconds) s\(logHint())")
            }
            let status = Subprocess.wait(pid)
            throw CLIError(.mountFailed, "the mount daemon exited (status \(status)) before the mount was ready\(logHint())")
        }
    }

    private static func makePipe() throws(CLIError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw CLIError(.mountFailed, "pipe: \(Errno.current)") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }

    /// Descriptors this process inherited (a test harness's pipes, say) must not live on in the
    /// daemon: the parent is about to exit, so marking them close-on-exec costs nothing.
    private static func markOthersCloseOnExec(keeping keep: Set<Int32>) {
        guard let dir = opendir("/proc/self/fd") else { return }
        defer { closedir(dir) }
        let own = dirfd(dir)
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = Int32(name), fd > 2, fd != own, !keep.contains(fd) else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// The daemon's stdout/stderr: $TDEFS_LOG_FILE (appended, 0600) or /dev/null (the daemon then
    /// logs to the journal; see DaemonLogHandler.destination). The log file is opened without
    /// following a symlink (one planted there would make the daemon, often root, append to
    /// another file); a log file that cannot be opened is dropped from the daemon's environment,
    /// so that it logs to the journal instead.
    private static func logOutput() -> Int32 {
        if let raw = getenv("TDEFS_LOG_FILE"), raw.pointee != 0 {
            let path = String(cString: raw)
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 { return fd }
            let e = errno
            let why = e == ELOOP ? "it is a symlink, which tdefs does not follow" : "\(Errno(e))"
            Console.warn("warning: not logging to TDEFS_LOG_FILE \(path): \(why); the daemon logs to the journal instead")
            unsetenv("TDEFS_LOG_FILE")
        }
        return open("/dev/null", O_WRONLY | O_CLOEXEC)
    }

    private static func logHint() -> String {
        getenv("TDEFS_LOG_FILE") != nil ? " (see $TDEFS_LOG_FILE)"
            : " (see the journal: journalctl -t tdefs; or set TDEFS_LOG_FILE, or mount with --foreground)"
    }

    private static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return "tdefs" }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// One line from `fd` (without its "\n"), or what came before EOF; nil on timeout or nothing read.
    private static func readLine(_ fd: Int32, timeoutSeconds: Int32) -> String? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int(deadline.tv_sec) + Int(timeoutSeconds)
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - Int(now.tv_sec)
            if left <= 0 { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(min(left, 3600)) * 1000)
            if r < 0 && errno == EINTR { continue }
            if r == 0 { continue }
            if r < 0 { break }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if let nl = bytes.firstIndex(of: 0x0A) { return String(decoding: bytes[..<nl], as: UTF8.self) }
        }
        return bytes.isEmpty ? "" : String(decoding: bytes, as: UTF8.self)
    }
}
