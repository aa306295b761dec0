import ArgumentParser
import Glibc
import TDEFSCore
import TDEFSFuse

/// tdefs mount BACKING MOUNTPOINT [KEY] [-f|--foreground] [-o OPT,...]
struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount a volume; returns once the mount is live (or runs in the foreground with -f).",
        usage: Synopsis.usage(Synopsis.mount),
        discussion: """
            Mount options (-o, comma-separated, repeatable): allow_other (let other users in, \
            such as the postgres user; the kernel checks permissions), ro, rw, nonempty (mount \
            over a non-empty directory), noxattr or xattr (serve no extended attributes, or user.* ones, \
            on this mount; without either the volume's profile decides, see tdefs init --profile), noatime, default_permissions (always on), \
            metrics=SOCKET or metrics=127.0.0.1:PORT (serve Prometheus metrics on a Unix socket or a \
            loopback port), key_check=SECONDS (a KMIP volume: ask the key server again at that interval \
            and lock when it withdraws the key, see tdefs lock); any other option is passed to FUSE. A background mount logs to the \
            systemd journal (or to $TDEFS_LOG_FILE when set); --foreground logs to stderr (the \
            journal's own socket when stderr is the journal). Level from $TDEFS_LOG_LEVEL. \
            With --ecryptfs, BACKING is an eCryptfs lower directory, served read-only (-o ro) and decrypted \
            in userspace with the --ecryptfs-passphrase-file key (or --ecryptfs-wrapped-passphrase with \
            --login-passphrase-file, and --ecryptfs-fnek-passphrase-file); nothing in it is written.
            """)

    @Argument(help: ArgumentHelp("The volume's backing directory.", valueName: "backing"))
    var backing: String

    @Argument(help: ArgumentHelp("An existing, empty directory to mount on.", valueName: "mountpoint"))
    var mountpoint: String

    @OptionGroup var key: KeyOptions

    /// Extension to the command-line contract: BACKING is an eCryptfs lower directory, served read-only.
    @Flag(name: .customLong("ecryptfs"), help: "BACKING is an eCryptfs lower directory: serve it read-only (-o ro), keys from the --ecryptfs-* options.")
    var ecryptfs = false

    @OptionGroup var ecryptfsKeys: ECryptfsKeyOptions

    @Flag(name: [.short, .long], help: "Stay in the foreground and log to stderr (for systemd Type=notify).")
    var foreground = false

    @Option(name: .customShort("o"), help: ArgumentHelp("Mount options, comma-separated.", valueName: "opt,..."))
    var options: [String] = []

    // The daemon child's side of a background mount (set by the parent, not by people).
    @Option(name: .customLong("secret-fd"), help: .hidden) var secretFD: Int32?
    @Option(name: .customLong("ready-fd"), help: .hidden) var readyFD: Int32?
    @Option(name: .customLong("lock-fd"), help: .hidden) var lockFD: Int32?

    func validate() throws {
        if (secretFD == nil) != (readyFD == nil) || (lockFD != nil && secretFD == nil) {
            throw ValidationError("--secret-fd and --ready-fd go together")
        }
        // The daemon child of a background mount gets the key material on --secret-fd; the KMIP
        // server's options (paths, no secret) come along only for -o key_check.
        if secretFD != nil && key.anyGiven && key.keyKMIP == nil {
            throw ValidationError("--secret-fd excludes the key options")
        }
        if ecryptfs && key.anyGiven {
            throw ValidationError("--ecryptfs takes the --ecryptfs-* options, not a KEY (a read-only view has no tdefs key)")
        }
        if !ecryptfs && ecryptfsKeys.anyGiven {
            throw ValidationError("the --ecryptfs-* and --login-passphrase-file options need --ecryptfs")
        }
    }

    func run() throws {
        let list = try MountOptionList(options)
        if ecryptfs {
            let view = ECryptfsMount(lowerDir: backing, mountpoint: mountpoint, keys: ecryptfsKeys, options: list)
            if let secretFD, let readyFD {
                close(secretFD)  // the keys come from the files named on the command line
                view.runDaemonChild(readyFD: readyFD)
            }
            return try view.run(foreground: foreground)
        }
        if let secretFD, let readyFD {
            runDaemonChild(secretFD: secretFD, readyFD: readyFD, options: list)
        }
        // Under systemd (Type=notify, with --foreground): STATUS= while starting, READY=1 once
        // the mount answers, STOPPING=1 when it is gone; a failure is told in STATUS= too.
        let notify = foreground ? SystemdNotify.socketPath() : nil
        do {
            try mount(list: list, notify: notify)
        } catch {
            if let notify {
                if let code = error as? ExitCode {
                    SystemdNotify.send("STATUS=Stopped with errors (exit \(code.rawValue)); see the log", to: notify)
                } else if !(error is ValidationError) {
                    let failure = CLIError.from(error)
                    SystemdNotify.send("STATUS=Failed: \(SystemdNotify.oneLine(failure.message))", to: notify)
                }
            }
            throw error
        }
    }

    private func mount(list: MountOptionList, notify: String?) throws {
        let (backingPath, mountPath) = try preflight(nonempty: list.nonempty)
        let config = try Volume.loadConfig(backingPath: backingPath)
        if let notify { SystemdNotify.send("STATUS=Unlocking \(backingPath)", to: notify) }
        try KeyLifecycle.checkAuditable()
        // A wrong key stops here: nothing mounted, nothing in the backing directory touched. The
        // KEK (through whichever key slot the options open) is what the daemon child gets.
        let opened = try KeyLifecycle.openKEK(key, config: config, backing: backingPath)
        let material = opened.kek
        let keyring = opened.keyring

        if foreground {
            let lock = try VolumeLock(backingPath: backingPath)
            if let notify { SystemdNotify.send("STATUS=Mounting \(backingPath) on \(mountPath)", to: notify) }
            let cipher = keyring.current.size.cipherName
            let epoch = keyring.current.epoch
            // Under WatchdogSec=, the worker that answers the watchdog's statfs pings systemd.
            var watchdog: WatchdogConfig?
            if let notify, let usec = SystemdNotify.watchdogMicroseconds() {
                watchdog = WatchdogConfig(intervalMicroseconds: usec / 2, ping: SystemdNotify.watchdogPing(to: notify))
            }
            let status = try DaemonRunner.serve(backingPath: backingPath, mountPath: mountPath, keyring: keyring, config: config, lock: lock, options: list, background: false,
                                                keyCheck: try keyCheckPlan(list, config, slot: opened.slot), onReady: {
                // Called by the readiness probe only after a stat of the mountpoint was answered.
                if let notify {
                    SystemdNotify.send("READY=1\nSTATUS=Mounted \(backingPath) on \(mountPath) "
                        + "(epoch \(epoch), \(cipher))", to: notify)
                }
            }, onStopping: {
                if let notify {
                    SystemdNotify.send("STOPPING=1\nSTATUS=Unmounted \(backingPath) from \(mountPath)", to: notify)
                }
            }, watchdog: watchdog)
            if status != 0 { throw ExitCode(status) }
        } else {
            let lock = try VolumeLock(backingPath: backingPath, inheritable: true)
            let plan = try keyCheckPlan(list, config, slot: opened.slot)
            Self.makeAuditFileAbsolute()
            try DaemonLauncher.launch(backingPath: backingPath, mountPath: mountPath, options: list,
                                      material: material, lock: lock, extraArguments: plan.map { key.kmipServerArguments + ["--kmip-key-id", $0.record.keyID] } ?? [])
        }
    }

    /// The daemon runs in /: a relative $TDEFS_AUDIT_FILE would name another file there.
    static func makeAuditFileAbsolute() {
        guard let value = getenv("TDEFS_AUDIT_FILE") else { return }
        let audit = String(cString: value)
        if !audit.isEmpty && !audit.hasPrefix("/") { setenv("TDEFS_AUDIT_FILE", Paths.absolute(audit), 1) }
    }

    /// `-o key_check=SECONDS`: the KMIP server and key the daemon asks again; nil without it.
    /// `slot`: the key slot the mount opened (the daemon child, which got the KEK, knows the key by
    /// the --kmip-key-id its parent passes).
    private func keyCheckPlan(_ list: MountOptionList, _ config: VolumeConfig, slot: Int? = nil) throws(CLIError) -> KeyCheckPlan? {
        guard let seconds = list.keyCheckSeconds else { return nil }
        let record = slot.flatMap { n in config.allSlots.first { $0.slot == n }?.source.kmip }
            ?? config.allSlots.compactMap { $0.source.kmip }.first { key.kmipKeyID == nil || key.kmipKeyID!.hasPrefix("name:") || $0.keyID == key.kmipKeyID }
        guard let record, let keyKMIP = key.keyKMIP else {
            throw CLIError(.usage, "-o key_check needs a volume whose key is held by a KMIP server, and --key-kmip")
        }
        return KeyCheckPlan(server: try key.kmipServer(keyKMIP), record: record, seconds: seconds)
    }

    /// Resolves both paths and refuses what would fail or surprise later: a missing backing
    /// directory (12), a missing or non-empty mountpoint (13), a volume mounted already (15).
    private func preflight(nonempty: Bool) throws(CLIError) -> (String, String) {
        guard let backingPath = Paths.resolved(backing), Paths.isDirectory(backingPath) else {
            throw CLIError.from(VolumeError.backingMissing(path: backing))
        }
        let mounts = MountTable.read()
        if let existing = MountTable.tdefsMount(ofBacking: backingPath, in: mounts) {
            throw CLIError(.alreadyMounted, "\(backingPath) is already mounted at \(existing.mountPoint)")
        }
        let mountPath = try MountpointCheck.resolve(mountpoint, source: backingPath, what: "backing directory",
                                                    nonempty: nonempty, mounts: mounts)
        return (backingPath, mountPath)
    }

    /// The daemon started by a background mount: the parent checked everything and unlocked the
    /// volume once; this process unlocks again from the material on `secretFD`, mounts, reports on
    /// `readyFD`, and serves until unmounted.
    private func runDaemonChild(secretFD: Int32, readyFD: Int32, options: MountOptionList) -> Never {
        _ = fcntl(secretFD, F_SETFD, FD_CLOEXEC)
        _ = fcntl(readyFD, F_SETFD, FD_CLOEXEC)
        signal(SIGPIPE, SIG_IGN)
        _ = chdir("/")
        let ready = ReadyChannel(fd: readyFD)
        do {
            let material: SecureBytes
            do {
                material = try SecretDescriptor.read(fd: secretFD)
            } catch {
                close(secretFD)
                throw error
            }
            close(secretFD)
            let backingPath = Paths.absolute(backing)
            let mountPath = Paths.absolute(mountpoint)
            let config = try Volume.loadConfig(backingPath: backingPath)
            let keyring = try Volume.unlock(config: config, kek: material, path: backingPath)
            let lock = try lockFD.map { fd throws(VolumeError) in try VolumeLock(inheritedFD: fd, backingPath: backingPath) }
                ?? VolumeLock(backingPath: backingPath)
            let status = try DaemonRunner.serve(backingPath: backingPath, mountPath: mountPath, keyring: keyring, config: config, lock: lock, options: options, background: true,
                                                keyCheck: try keyCheckPlan(options, config)) { ready.sendReady() }
            Glibc.exit(status)
        } catch {
            let failure = CLIError.from(error)
            Console.fail(failure.message)
            ready.sendFailure(failure)
            Glibc.exit(failure.status.rawValue)
        }
    }
}
