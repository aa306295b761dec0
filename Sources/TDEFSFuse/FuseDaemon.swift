import CFuse
import CPlatform
import Glibc
import Logging
import TDEFSCore

/// Serves one engine on one mountpoint through libfuse's low-level API: `mount()`, then `run()`
/// on the thread that should own the signals (normally the main thread).
public final class FuseDaemon {
    /// Idle workers beyond this many end (and free their buffers).
    static let maxIdleThreads: UInt32 = 4
    /// Each busy worker holds libfuse's 1 MiB request buffer, possibly a 1 MiB reply buffer, and a
    /// 270 KiB workspace: 8 bounds the daemon's memory (issue #6: under 32 MiB) while leaving
    /// workers free when some wait on a slow fsync. More would not help on a machine whose cores
    /// are already busy with the encryption and the kernel's side of each request.
    static let maxThreads: UInt32 = 8

    private let fileSystem: FileSystem
    private let mountpoint: String
    private let options: MountOptions
    private let logger: Logger
    private let state: SessionState
    /// The reference libfuse holds as userdata; released when the daemon goes away.
    private let userdata: Unmanaged<SessionState>
    private var session: OpaquePointer?

    public init(fileSystem: FileSystem, mountpoint: String, options: MountOptions, logger: Logger,
                metrics: VolumeMetrics? = nil) {
        self.fileSystem = fileSystem
        self.mountpoint = mountpoint
        self.options = options
        self.logger = logger
        self.state = SessionState(fileSystem: fileSystem, logger: logger, metrics: metrics)
        self.userdata = Unmanaged.passRetained(state)
    }

    deinit {
        if let session {
            // Mounted but never run.
            fuse_session_unmount(session)
            fuse_session_destroy(session)
        }
        userdata.release()
    }

    /// Creates the FUSE session and mounts it. Throws with a message for the operator.
    public func mount() throws {
        guard session == nil else { throw FuseDaemonError("\(mountpoint) is already mounted by this daemon") }
        var ops = FuseOperations.table(extendedAttributes: options.extendedAttributes)
        session = try FuseSessionMount.mount(mountpoint, options: options, ops: &ops, userdata: userdata.toOpaque())
        logger.debug("mounted", metadata: ["mountpoint": "\(mountpoint)", "source": "\(options.fsname)"])
    }

    /// Stops serving at once, from any thread (`tdefs lock`, a revoked key): the loop ends as on
    /// SIGTERM, the requests in flight finish, the engine is flushed and destroyed, and the session's
    /// descriptor is closed without unmounting. The kernel then aborts the connection: the mount
    /// stays in place and every access to it fails with ENOTCONN until it is unmounted, so nothing
    /// resolves to the directory underneath. Pages the kernel had not written back are lost, as in
    /// a crash; what was fsynced is on the backing directory. `run()` returns 0. A closure any
    /// thread may keep (the control socket, the key check); it returns false, and does nothing,
    /// once the loop has ended (an unmount or a stop got there first) or when a lock is under way.
    public var lockAction: @Sendable () -> Bool {
        { [state] in
            guard !state.stopped.load(ordering: .sequentiallyConsistent),
                  state.locking.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else {
                return false
            }
            // The loop thread alone takes SIGTERM (see run()); libfuse's handler ends the loop.
            kill(getpid(), SIGTERM)
            return true
        }
    }

    /// True once `lock()` was called.
    public var isLocked: Bool { state.locking.load(ordering: .sequentiallyConsistent) }

    /// Serves requests on the calling thread until the filesystem is unmounted or the process
    /// gets SIGTERM, SIGINT or SIGHUP. Calls `onReady` once, from another thread, when the mount
    /// answers, and `onLoopEnd` as soon as the loop has ended (before the flush and unmount: where
    /// systemd is told STOPPING=1). Returns 0 on a clean stop, 1 on failure. Unmounts, destroys the
    /// engine and the session before it returns.
    public func run(onReady: @escaping @Sendable () -> Void, onLoopEnd: () -> Void = {},
                    watchdog watchdogConfig: WatchdogConfig? = nil) -> Int32 {
        guard let session else {
            logger.error("run() called without a successful mount()")
            return 1
        }
        _ = tdefs_block_term_signals(1)
        // The watchdog starts probing once the mount is ready (its first probe would otherwise
        // wait for INIT like the readiness probe does).
        let watchdog = watchdogConfig.map { ServingWatchdog(mountpoint: mountpoint, state: state, config: $0) }
        let probe = ReadinessProbe(mountpoint: mountpoint, state: state, onReady: { [state] in
            onReady()
            if let watchdog {
                state.watchdog.withLock { $0 = watchdog }
                watchdog.start()
            }
        })
        let probeThread = probe.start()
        let trimmerThread = CacheTrimmer(session: session, state: state, openFileLimit: CacheTrimmer.openFileLimit()).start()

        if fuse_set_signal_handlers(session) != 0 {
            logger.warning("cannot install the FUSE signal handlers; stop the daemon with 'tdefs unmount'")
        }
        _ = tdefs_block_term_signals(0)

        let result: Int32
        if let config = fuse_loop_cfg_create() {
            fuse_loop_cfg_set_idle_threads(config, Self.maxIdleThreads)
            fuse_loop_cfg_set_max_threads(config, Self.maxThreads)
            fuse_loop_cfg_set_clone_fd(config, 0)
            result = tdefs_fuse_session_loop_mt(session, config)
            fuse_loop_cfg_destroy(config)
        } else {
            logger.error("cannot create the FUSE loop configuration")
            result = -ENOMEM
        }

        // Tear down without being interrupted: a second SIGTERM now must not kill the process
        // before the engine has been destroyed.
        _ = tdefs_block_term_signals(1)
        onLoopEnd()
        state.stopped.store(true, ordering: .releasing)
        // The trimmer notices `stopped` within 100 ms; it must be gone before the session is.
        if let trimmerThread { _ = pthread_join(trimmerThread, nil) }
        fuse_remove_signal_handlers(session)
        let locked = isLocked
        if locked {
            // Flushed and destroyed while the keys are there; then the descriptor closes without
            // an unmount, the kernel aborts the connection, and the probes' waits fail.
            state.destroyOnce()
            fuse_session_destroy(session)
            self.session = nil
            if let probeThread { _ = pthread_join(probeThread, nil) }
            watchdog?.join()
            logger.notice("locked: the mount at \(mountpoint) no longer answers (ENOTCONN) until it is unmounted")
            return 0
        }
        fuse_session_unmount(session)
        // Unmounting fails any stat still waiting in the probe, so this join ends.
        if let probeThread { _ = pthread_join(probeThread, nil) }
        // Likewise for a watchdog probe still waiting for its statfs.
        watchdog?.join()
        state.destroyOnce()
        fuse_session_destroy(session)
        self.session = nil

        switch result {
        case 0:
            logger.debug("unmounted", metadata: ["mountpoint": "\(mountpoint)"])
            return 0
        case SIGTERM, SIGINT, SIGHUP:
            logger.debug("stopped by signal \(result), unmounted", metadata: ["mountpoint": "\(mountpoint)"])
            return 0
        default:
            let reason = result < 0 ? String(cString: strerror(-result)) : "status \(result)"
            logger.error("the FUSE loop failed: \(reason)", metadata: ["mountpoint": "\(mountpoint)"])
            return 1
        }
    }
}
