import CPlatform
import Glibc
import Synchronization

/// systemd's watchdog (WatchdogSec=), fed from the thread that serves requests: a thread of its
/// own asks the mount for its statfs every half interval; that request goes through the kernel
/// to a FUSE worker, through the engine and to the backing filesystem (statfs is never cached),
/// and the worker that answers it sends the ping. A daemon whose workers hang (a deadlock, a
/// backing filesystem that stopped answering) then sends none, and systemd restarts it.
public struct WatchdogConfig: Sendable {
    /// How often to probe: half of systemd's WATCHDOG_USEC, as sd_watchdog_enabled(3) advises.
    public let intervalMicroseconds: UInt64
    /// Sends WATCHDOG=1; called on a FUSE worker thread.
    public let ping: @Sendable () -> Void

    public init(intervalMicroseconds: UInt64, ping: @escaping @Sendable () -> Void) {
        self.intervalMicroseconds = max(1_000, intervalMicroseconds)
        self.ping = ping
    }
}

final class ServingWatchdog: Sendable {
    let mountpoint: String
    let state: SessionState
    let config: WatchdogConfig
    /// The probing thread's kernel thread ID: the statfs requests it causes carry it.
    let probeThreadID = Atomic<Int32>(0)
    private let thread = Mutex<pthread_t?>(nil)

    init(mountpoint: String, state: SessionState, config: WatchdogConfig) {
        self.mountpoint = mountpoint
        self.state = state
        self.config = config
    }

    /// Called by the statfs handler: pings when the request is this watchdog's probe.
    func answeredStatfs(fromThread tid: pid_t) {
        if tid != 0 && tid == probeThreadID.load(ordering: .acquiring) { config.ping() }
    }

    /// Starts the probe thread (logged if no thread could be made).
    func start() {
        switch DaemonThread.start({ self.probeUntilStopped() }) {
        case .success(let thread):
            self.thread.withLock { $0 = thread }
        case .failure(let error):
            state.logger.error("cannot start the watchdog thread: \(error)")
        }
    }

    /// Waits for the probe thread to end (after the loop has stopped and the mount is gone).
    func join() {
        if let t = thread.withLock({ $0 }) { _ = pthread_join(t, nil) }
    }

    private func probeUntilStopped() {
        probeThreadID.store(Int32(tdefs_gettid()), ordering: .releasing)
        var info = statvfs()
        while !state.stopped.load(ordering: .acquiring) {
            _ = statvfs(mountpoint, &info)
            // Sleep the interval in steps, so that the end of the loop is noticed quickly.
            var left = config.intervalMicroseconds
            while left > 0 && !state.stopped.load(ordering: .acquiring) {
                let step = min(left, 100_000)
                usleep(UInt32(step))
                left -= step
            }
        }
    }
}
