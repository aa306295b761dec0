import CPlatform
import Glibc
import Logging
import TDEFSCore
import TDEFSFuse

/// `-o key_check=SECONDS`: the KMIP server the daemon asks again, the volume's key, the interval.
struct KeyCheckPlan {
    let server: KMIPKeyServer
    let record: KMIPRecord
    let seconds: Int
}

/// Serves an unlocked volume on its mountpoint in this process until it is unmounted.
enum DaemonRunner {
    /// Returns the exit status for the process: 0 after a clean unmount or SIGTERM.
    /// Throws (status 13) when the engine cannot open the volume or the mount fails; `onReady`
    /// is then never called. `onStopping` is called as soon as the FUSE loop has ended, before the
    /// flush and unmount.
    static func serve(backingPath: String, mountPath: String, keyring: Keyring, config: VolumeConfig, lock: VolumeLock,
                      options: MountOptionList, background: Bool, keyCheck: KeyCheckPlan? = nil,
                      onReady: @escaping @Sendable () -> Void,
                      onStopping: () -> Void = {}, watchdog: WatchdogConfig? = nil) throws(CLIError) -> Int32 {
        // Before any thread exists: the FUSE loop's thread alone takes SIGTERM/SIGINT/SIGHUP.
        _ = tdefs_block_term_signals(1)
        tdefs_tune_malloc_for_daemon()
        _ = tdefs_disable_core_dumps()
        signal(SIGPIPE, SIG_IGN)
        let destination = DaemonLogHandler.destination(background: background)
        LoggingSystem.bootstrap { _ in DaemonLogHandler(volume: backingPath, destination: destination) }
        let logger = Logger(label: "tdefs")
        // A failure to lock key memory goes to the daemon's log; one that came before (reading the
        // key) went to standard error, which is the log unless the log is the journal's socket.
        var replay = false
        if case .journal = destination { replay = true }
        MemoryLock.setReporter(replay: replay) { logger.warning("\($0.hasPrefix("warning: ") ? String($0.dropFirst(9)) : $0)") }
        let openFiles = tdefs_raise_nofile_limit()
        if openFiles >= 0 && openFiles < 8192 {
            logger.warning("only \(openFiles) open files allowed: the mount holds one per file in use; raise LimitNOFILE")
        }

        let fileSystem: FileSystem
        do {
            fileSystem = try FileSystem(backingPath: backingPath, keyring: keyring, options: EngineOptions(formatVersion: config.formatVersion, reencryptTarget: config.reencryptTarget),
                                    logger: logger)
        } catch {
            if error == .EIO {
                throw CLIError(.corruptVolume, "the volume \(backingPath) is damaged (\(error)); run tdefs fsck")
            }
            throw CLIError(.mountFailed, "cannot open the volume \(backingPath): \(error)")
        }
        // The unlock is audited before the volume is served: without its record, no mount.
        do {
            try AuditLog.record(AuditEvent(.unlock, volume: Base64URL.encode(keyring.volumeID), backing: backingPath,
                                           epoch: keyring.current.epoch, keySource: config.keySource, details: [("mountpoint", mountPath)]),
                                logger: logger)
        } catch {
            throw CLIError(.failure, "\(error): the volume is not mounted, as its unlock could not be audited")
        }
        let mountOptions = MountOptions(allowOther: options.allowOther, readOnly: options.readOnly,
                                        extendedAttributes: options.extendedAttributes(for: config.effectiveProfile),
                                        fuseOptions: options.passThrough, fsname: backingPath)
        let sources = VolumeMetrics.Sources(fileSystem: fileSystem, keyring: keyring, backingPath: backingPath, mountpoint: mountPath)
        let metrics = try DaemonMetrics.open(options.metrics, sources, logger: logger)
        defer { metrics?.stop() }
        let daemon = FuseDaemon(fileSystem: fileSystem, mountpoint: mountPath, options: mountOptions, logger: logger,
                                metrics: metrics?.volume)
        let lockNow = daemon.lockAction
        // Lock and revocation events; the lock goes ahead when its event cannot be written.
        let audit: @Sendable (AuditEvent.Kind, [(String, String)]) -> Void = { kind, details in
            do {
                try AuditLog.record(AuditEvent(kind, volume: Base64URL.encode(keyring.volumeID), backing: backingPath,
                                               epoch: keyring.current.epoch, keySource: config.keySource, details: details), logger: logger)
            } catch {
                logger.error("\(error)")
            }
        }
        do {
            try daemon.mount()
        } catch {
            throw CLIError(.mountFailed, "\(error)")
        }
        metrics?.start()
        // Counted once in the background, then kept up to date by the engine (tdefs status reads it).
        fileSystem.recountCensus()
        logger.info("mounted on \(mountPath) (epoch \(keyring.current.epoch), \(keyring.current.size.cipherName))")
        if let scrypt = config.keySource.scrypt, config.keySource.isWeakened {
            let why = "scrypt N=\(scrypt.n), r=\(scrypt.r), p=\(scrypt.p)"
            logger.warning("the passphrase's key derivation is weaker than the default (\(why)); run tdefs passwd with a new passphrase to strengthen it")
        }
        // Online rotation and retirement reach this daemon through its control socket.
        let control: ControlServer?
        do {
            guard let endpoint = ControlEndpoint.of(backingPath: backingPath, volumeID: keyring.volumeID) else { throw Errno.current }
            let nonce = ControlEndpoint.newNonce()
            try lock.recordDaemonNonce(nonce)
            control = try ControlServer(endpoint: endpoint, nonce: nonce, keyring: keyring, fileSystem: fileSystem,
                                    configGeneration: config.generation, logger: logger, onLock: {
                if lockNow() { audit(.lock, [("reason", "tdefs lock")]) }
            })
            control?.start()
        } catch {
            logger.warning("no control socket (\(error)): online rotation cannot reach this daemon")
            control = nil
        }
        defer { control?.stop() }
        // -o key_check: a refusal by the key server locks the volume.
        let check = keyCheck.map { plan in
            KMIPKeyCheck(server: plan.server, record: plan.record, intervalSeconds: plan.seconds, onRevoked: { error in
                guard lockNow() else { return }
                logger.critical("the key server refused the volume's key (\(error)): locking")
                audit(.keyRevoked, [("reason", "\(error.reason)")])
            }, onUnreachable: { error in
                logger.warning("key check: \(error); the volume stays mounted")
            })
        }
        if let check, !check.start() { throw CLIError(.mountFailed, "cannot start the key check thread") }
        defer { check?.stop() }
        // run() returns once the loop has ended (SIGTERM/SIGINT/SIGHUP, or an unmount from
        // outside) and the engine has been flushed and the mount removed; onStopping runs as
        // soon as the loop ends.
        let status = daemon.run(onReady: {
            logger.info("ready")
            metrics?.serving(true)
            onReady()
        }, onLoopEnd: {
            metrics?.serving(false)
            onStopping()
        }, watchdog: watchdog)
        withExtendedLifetime(lock) {}
        if daemon.isLocked {
            logger.notice("locked: every key dropped; unmount \(mountPath) and mount again with the key to resume")
            return ExitStatus.locked.rawValue
        }
        logger.info(status == 0 ? "unmounted from \(mountPath)" : "stopped with errors")
        return status == 0 ? ExitStatus.ok.rawValue : ExitStatus.failure.rawValue
    }
}
