import Logging
import Synchronization
import TDEFSCore

/// Per-session state: the libfuse `userdata` of every request. Immutable apart from a few atomic
/// flags, so any worker thread may use it.
final class SessionState: Sendable {
    let fileSystem: FileSystem
    let logger: Logger
    /// Set once the daemon has answered a getattr of the root (success or error): the mount is live.
    let rootAnswered = Atomic<Bool>(false)
    /// Set when the loop has ended; the readiness probe then no longer reports ready.
    let stopped = Atomic<Bool>(false)
    /// Set by FuseDaemon.lockAction: the loop ends and the mount is left in place, dead.
    let locking = Atomic<Bool>(false)
    private let destroyed = Atomic<Bool>(false)
    /// Set at INIT when the kernel keeps a writeback cache: it then places O_APPEND writes itself.
    let writebackCache = Atomic<Bool>(false)
    /// Set at INIT for kernels of FUSE protocol 7.35 (Linux 5.16) and later, which write a file's
    /// cached pages back at close even when the filesystem has no flush: FLUSH can then be
    /// refused (ENOSYS), and the kernel stops sending one per close.
    let kernelWritesBackAtClose = Atomic<Bool>(false)
    /// systemd's watchdog, when the daemon runs under one (see ServingWatchdog).
    let watchdog = Mutex<ServingWatchdog?>(nil)
    /// Request counters and latencies (`-o metrics=`); nil when the mount has none.
    let metrics: VolumeMetrics?

    init(fileSystem: FileSystem, logger: Logger, metrics: VolumeMetrics? = nil) {
        self.fileSystem = fileSystem
        self.logger = logger
        self.metrics = metrics
    }

    /// Calls the engine's destroy exactly once, whether libfuse's destroy callback or the end of
    /// FuseDaemon.run gets there first.
    func destroyOnce() {
        if !destroyed.exchange(true, ordering: .acquiringAndReleasing) {
            fileSystem.destroy()
        }
    }
}
