import Glibc

enum Subprocess {
    /// Runs a program found on PATH with the same standard streams; returns its exit status
    /// (128 + signal when killed), or nil when it could not be started.
    static func run(_ arguments: [String]) -> Int32? {
        let args: [UnsafeMutablePointer<CChar>?] = arguments.map { (s: String) in strdup(s) }
        defer { args.forEach { free($0) } }
        var argv = args + [nil]
        var pid: pid_t = 0
        guard posix_spawnp(&pid, arguments[0], nil, nil, &argv, environ) == 0 else { return nil }
        return wait(pid)
    }

    /// Waits for a child; its exit status, or 128 + signal.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 1 }
        }
        if (status & 0x7F) == 0 { return (status >> 8) & 0xFF }
        return 128 + (status & 0x7F)
    }
}
