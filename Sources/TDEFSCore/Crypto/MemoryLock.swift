import CPlatform
import Glibc
import Synchronization

/// Locks key memory (mlock) and says so, once per process, when it cannot: the keys are then in
/// ordinary memory that may be swapped to disk. The first failure goes to the reporter (the
/// CLI's standard error; the daemon's log once it has one), or to standard error while there is
/// none; later failures are not repeated.
public enum MemoryLock {
    private struct State {
        var failure: String?
        var reporter: (@Sendable (String) -> Void)?
    }
    private static let state = Mutex(State())

    /// Locks `count` bytes at `pointer`; reports the first failure.
    static func lock(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
        guard tdefs_mlock(pointer, count) != 0 else { return }
        let e = errno
        let report = state.withLock { (s: inout State) -> (String, (@Sendable (String) -> Void)?)? in
            guard s.failure == nil else { return nil }
            var limit = rlimit()
            let bytes = getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0
                ? (limit.rlim_cur == rlim_t.max ? "unlimited" : "\(limit.rlim_cur) bytes") : "unknown"
            let message = "warning: cannot lock key memory (mlock: \(String(cString: strerror(e))); RLIMIT_MEMLOCK is \(bytes)): "
                + "keys may be swapped to disk; raise the limit (LimitMEMLOCK= in a unit) or grant CAP_IPC_LOCK"
            s.failure = message
            return (message, s.reporter)
        }
        guard let (message, reporter) = report else { return }
        if let reporter { reporter(message) } else { standardError(message) }
    }

    /// The first failure's message, if any.
    public static var failure: String? { state.withLock { $0.failure } }

    /// Sends a failure to `reporter` from now on. With `replay`, one that happened before goes to
    /// it too (a daemon whose log is not the standard error the failure was written to).
    public static func setReporter(replay: Bool = false, _ reporter: @escaping @Sendable (String) -> Void) {
        let pending: String? = state.withLock { s in
            s.reporter = reporter
            return replay ? s.failure : nil
        }
        if let pending { reporter(pending) }
    }

    private static func standardError(_ message: String) {
        let line = Array(("tdefs: " + message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
