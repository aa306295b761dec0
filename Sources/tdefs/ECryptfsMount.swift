import ArgumentParser
import CPlatform
import Glibc
import Logging
import TDEFSCore
import TDEFSFuse

/// `tdefs mount --ecryptfs LOWER_DIR MOUNTPOINT (--ecryptfs-* keys) -o ro`: an eCryptfs lower
/// directory (an old backup, a volume of a host without the module) served read-only through FUSE
/// by the userspace reader, with no kernel module. The lower directory is never written: no lock
/// file, no journal, nothing.
struct ECryptfsMount {
    let lowerDir: String
    let mountpoint: String
    let keys: ECryptfsKeyOptions
    let options: MountOptionList

    /// Checks, reads the keys and refuses a wrong passphrase, then serves in the foreground or
    /// starts the daemon and returns once the mount is live.
    func run(foreground: Bool) throws {
        let (lowerPath, mountPath) = try preflight()
        let lower = try open(lowerPath)
        if foreground {
            let status = serve(lower, lowerPath: lowerPath, mountPath: mountPath, background: false, onReady: {})
            if status != 0 { throw ExitCode(status) }
        } else {
            try DaemonLauncher.launch(backingPath: lowerPath, mountPath: mountPath, options: options,
                                      material: SecureBytes(count: 0), lock: nil,
                                      extraArguments: ["--ecryptfs"] + keys.arguments)
        }
    }

    /// The daemon started by a background mount: the parent checked everything; this process
    /// reads the keys again (from the same files), mounts, and reports on `readyFD`.
    func runDaemonChild(readyFD: Int32) -> Never {
        _ = fcntl(readyFD, F_SETFD, FD_CLOEXEC)
        signal(SIGPIPE, SIG_IGN)
        _ = chdir("/")
        let ready = ReadyChannel(fd: readyFD)
        do {
            let lowerPath = Paths.absolute(lowerDir)
            let lower = try open(lowerPath)
            let status = serve(lower, lowerPath: lowerPath, mountPath: Paths.absolute(mountpoint), background: true) {
                ready.sendReady()
            }
            Glibc.exit(status)
        } catch {
            let failure = CLIError.from(error)
            Console.fail(failure.message)
            ready.sendFailure(failure)
            Glibc.exit(failure.status.rawValue)
        }
    }

    private func preflight() throws(CLIError) -> (String, String) {
        if options.all.contains("rw") {
            throw CLIError(.usage, "an eCryptfs lower directory is served read-only: mount it with -o ro, not rw")
        }
        guard let lowerPath = Paths.resolved(lowerDir), Paths.isDirectory(lowerPath) else {
            throw CLIError(.notAVolume, "\(lowerDir) is not a directory (an eCryptfs lower directory)")
        }
        if access(lowerPath + "/" + Volume.configName, F_OK) == 0 {
            throw CLIError(.usage, "\(lowerPath) is a tdefs volume, not an eCryptfs lower directory: mount it without --ecryptfs")
        }
        let mountPath = try MountpointCheck.resolve(mountpoint, source: lowerPath, what: "lower directory",
                                                    nonempty: options.nonempty, mounts: MountTable.read())
        return (lowerPath, mountPath)
    }

    /// The reader over the lower directory, once the keys have opened one of its files: a wrong
    /// passphrase stops here (exit 10), before anything is mounted.
    private func open(_ lowerPath: String) throws(CLIError) -> ECryptfsLowerDirectory {
        let keys = try self.keys.keys(for: "mount --ecryptfs")
        let lower: ECryptfsLowerDirectory
        do {
            lower = try ECryptfsLowerDirectory(path: lowerPath, keys: keys)
            if let file = try Self.firstFile(in: lower) { try lower.verifyKey(for: file) }
        } catch {
            if case .wrongKey = error { throw CLIError(.wrongKey, error.description) }
            throw CLIError(.mountFailed, error.description)
        }
        return lower
    }

    /// The first regular file met in a breadth-first walk (at most `limit` directories read).
    static func firstFile(in lower: ECryptfsLowerDirectory, limit: Int = 64) throws(ECryptfsError) -> ECryptfsPath? {
        var queue = [ECryptfsPath.root]
        var read = 0
        while !queue.isEmpty && read < limit {
            let dir = queue.removeFirst()
            read += 1
            for entry in try lower.entries(of: dir) {
                switch entry.kind {
                case .regular: return entry.path
                case .directory: queue.append(entry.path)
                default: break
                }
            }
        }
        return nil
    }

    private func serve(_ lower: ECryptfsLowerDirectory, lowerPath: String, mountPath: String, background: Bool,
                       onReady: @escaping @Sendable () -> Void) -> Int32 {
        _ = tdefs_block_term_signals(1)
        _ = tdefs_disable_core_dumps()
        signal(SIGPIPE, SIG_IGN)
        let destination = DaemonLogHandler.destination(background: background)
        LoggingSystem.bootstrap { _ in DaemonLogHandler(volume: lowerPath, destination: destination) }
        let logger = Logger(label: "tdefs")
        let mountOptions = MountOptions(allowOther: options.allowOther, readOnly: true, extendedAttributes: options.xattr ?? true,
                                        fuseOptions: options.passThrough, fsname: lowerPath)
        let daemon = ReadOnlyFuseDaemon(tree: ECryptfsTreeView(lower: lower, logger: logger), mountpoint: mountPath,
                                        options: mountOptions, logger: logger)
        do {
            try daemon.mount()
        } catch {
            logger.error("cannot mount: \(error)")
            Console.fail("\(error)")
            return ExitStatus.mountFailed.rawValue
        }
        logger.info("serving the eCryptfs lower directory \(lowerPath) read-only on \(mountPath)")
        let status = daemon.run(onReady: {
            logger.info("ready")
            onReady()
        })
        logger.info(status == 0 ? "unmounted from \(mountPath)" : "stopped with errors")
        return status == 0 ? ExitStatus.ok.rawValue : ExitStatus.failure.rawValue
    }
}
