import Glibc
import Logging

/// Tells the caller when the mount is live: a thread of its own stats the mountpoint, which
/// blocks until the daemon's loop has answered INIT and the root's getattr. Runs on a plain
/// pthread started while SIGTERM/SIGINT/SIGHUP are blocked, so it never takes those signals.
final class ReadinessProbe: Sendable {
    let mountpoint: String
    let state: SessionState
    let onReady: @Sendable () -> Void

    init(mountpoint: String, state: SessionState, onReady: @escaping @Sendable () -> Void) {
        self.mountpoint = mountpoint
        self.state = state
        self.onReady = onReady
    }

    /// Starts the probe thread; nil if no thread could be made (then onReady is never called).
    func start() -> pthread_t? {
        switch DaemonThread.start({ self.probe() }) {
        case .success(let thread):
            return thread
        case .failure(let error):
            state.logger.error("cannot start the readiness thread: \(error)")
            return nil
        }
    }

    private func probe() {
        var attr = stat()
        let rc = stat(mountpoint, &attr)
        let error = errno
        if state.stopped.load(ordering: .acquiring) { return }
        if rc == 0 {
            state.logger.debug("mount is live", metadata: ["mountpoint": "\(mountpoint)"])
            // Only now: answering INIT sets the window, and this must come after it.
            ReadaheadWindow.raise(mountpoint: mountpoint, logger: state.logger)
        } else if state.rootAnswered.load(ordering: .acquiring) {
            // The daemon answered, so the mount is live, but the root cannot be read.
            state.logger.error("mount is live but its root cannot be read: \(String(cString: strerror(error)))",
                               metadata: ["mountpoint": "\(mountpoint)"])
        } else {
            state.logger.error("mount did not come up: \(String(cString: strerror(error)))",
                               metadata: ["mountpoint": "\(mountpoint)"])
            return
        }
        onReady()
    }
}
