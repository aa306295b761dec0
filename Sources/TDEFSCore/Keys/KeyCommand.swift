import Glibc

/// Runs a key command through /bin/sh -c and collects its standard output (standard input and
/// error stay the caller's, so a command may ask on the terminal).
enum KeyCommand {
    static func run(_ command: String, limit: Int) throws(KeySourceError) -> SecretBuffer {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .commandNotStarted(errno: .current) }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        let args: [UnsafeMutablePointer<CChar>?] = ["sh", "-c", command].map { (s: String) in strdup(s) }
        defer { args.forEach { free($0) } }
        var argv: [UnsafeMutablePointer<CChar>?] = args + [nil]
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, &argv, environ)
        close(writeEnd)
        guard rc == 0 else {
            close(readEnd)
            throw .commandNotStarted(errno: Errno(rc))
        }
        let buf = SecretBuffer(capacity: 4096)
        var readError: KeySourceError?
        do { try buf.readAll(fd: readEnd, limit: limit, what: "the key command's output") } catch { readError = error }
        close(readEnd)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if let readError { throw readError }
        let exited = (status & 0x7F) == 0
        if !exited { throw .commandFailed(status: "killed by signal \(status & 0x7F)") }
        let code = (status >> 8) & 0xFF
        if code != 0 { throw .commandFailed(status: "exit status \(code)") }
        return buf
    }
}
