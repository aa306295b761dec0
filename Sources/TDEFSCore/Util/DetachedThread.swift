import Glibc

/// Runs `body` on a new detached thread of its own (a plain pthread, as libfuse's workers are: the
/// daemon's background jobs must not wait in Swift's small cooperative pool). Returns 0, or the
/// error of pthread_create (then `body` never runs).
func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Int32 {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let r = pthread_create(&thread, nil, { arg in
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, box)
    if r == 0 {
        pthread_detach(thread)
    } else {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
    }
    return r
}

private final class ThreadBody: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}
