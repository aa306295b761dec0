import Glibc

/// A plain pthread for the daemon's helpers (readiness probe, watchdog, cache trimmer): started
/// while SIGTERM/SIGINT/SIGHUP are blocked, so it never takes those signals, and joined by
/// FuseDaemon.run before the session goes away.
enum DaemonThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread; the pthread_create error number when none could be made.
    static func start(_ body: @escaping () -> Void) -> Result<pthread_t, DaemonThreadError> {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Body>.fromOpaque(context).release()
            return .failure(DaemonThreadError(code: rc))
        }
        return .success(thread)
    }
}

struct DaemonThreadError: Error, CustomStringConvertible {
    let code: Int32
    var description: String { String(cString: strerror(code)) }
}
