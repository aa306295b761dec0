import CFuse
import CPlatform
import Glibc
import Logging
import TDEFSCore

/// Serves a `ReadOnlyTree` on a mountpoint, read-only, through libfuse's low-level API: the
/// read-only counterpart of FuseDaemon, without the engine's writeback, watchdog or trimmer (there
/// is nothing to write back and nothing held per file but its key).
public final class ReadOnlyFuseDaemon {
    static let maxIdleThreads: UInt32 = 2
    static let maxThreads: UInt32 = 4

    private let mountpoint: String
    private let options: MountOptions
    private let logger: Logger
    private let state: ReadOnlySession
    private let userdata: Unmanaged<ReadOnlySession>
    private var session: OpaquePointer?

    /// `options.readOnly` is forced on: the tree cannot be written.
    public init(tree: any ReadOnlyTree, mountpoint: String, options: MountOptions, logger: Logger) {
        var options = options
        options.readOnly = true
        self.mountpoint = mountpoint
        self.options = options
        self.logger = logger
        self.state = ReadOnlySession(tree: tree, logger: logger)
        self.userdata = Unmanaged.passRetained(state)
    }

    deinit {
        if let session {
            fuse_session_unmount(session)
            fuse_session_destroy(session)
        }
        userdata.release()
    }

    public func mount() throws {
        guard session == nil else { throw FuseDaemonError("\(mountpoint) is already mounted by this daemon") }
        var ops = ReadOnlyFuseOperations.table()
        session = try FuseSessionMount.mount(mountpoint, options: options, ops: &ops, userdata: userdata.toOpaque())
    }

    /// Serves until unmounted or SIGTERM/SIGINT/SIGHUP; calls `onReady` (from another thread) once
    /// a stat of the mountpoint has been answered. Returns 0 on a clean stop, 1 on failure.
    public func run(onReady: @escaping @Sendable () -> Void) -> Int32 {
        guard let session else { return 1 }
        _ = tdefs_block_term_signals(1)
        let probe = DaemonThread.start { [state, mountpoint] in
            var attributes = stat()
            let rc = stat(mountpoint, &attributes)
            if state.stopped.withLock({ $0 }) { return }
            if rc == 0 || state.rootAnswered.withLock({ $0 }) {
                onReady()
            } else {
                state.logger.error("mount did not come up: \(String(cString: strerror(errno)))")
            }
        }
        if fuse_set_signal_handlers(session) != 0 {
            logger.warning("cannot install the FUSE signal handlers; stop the daemon with 'tdefs unmount'")
        }
        _ = tdefs_block_term_signals(0)
        var result: Int32 = -ENOMEM
        if let config = fuse_loop_cfg_create() {
            fuse_loop_cfg_set_idle_threads(config, Self.maxIdleThreads)
            fuse_loop_cfg_set_max_threads(config, Self.maxThreads)
            fuse_loop_cfg_set_clone_fd(config, 0)
            result = tdefs_fuse_session_loop_mt(session, config)
            fuse_loop_cfg_destroy(config)
        }
        _ = tdefs_block_term_signals(1)
        state.stopped.withLock { $0 = true }
        fuse_remove_signal_handlers(session)
        fuse_session_unmount(session)
        if case .success(let thread) = probe { _ = pthread_join(thread, nil) }
        fuse_session_destroy(session)
        self.session = nil
        switch result {
        case 0, SIGTERM, SIGINT, SIGHUP:
            return 0
        default:
            logger.error("the FUSE loop failed: \(result < 0 ? String(cString: strerror(-result)) : "status \(result)")")
            return 1
        }
    }
}
