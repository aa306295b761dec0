import ArgumentParser
import Glibc
import Logging
import TDEFSCore

/// tdefs rotate BACKING|MOUNTPOINT [KEY] [--reencrypt] [--cipher ...]
struct RotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Make a new master-key epoch and rewrap every file key under it (online when mounted).",
        usage: Synopsis.usage(Synopsis.rotate),
        discussion: """
            New files use the new epoch at once. Every existing file's header is rewrapped in place; \
            an interrupted rotation (even by SIGKILL) is finished by running rotate again. Names, \
            directories and symlinks keep the epoch they were made under until --reencrypt.
            """)

    @Argument(help: ArgumentHelp("The backing directory, or the mountpoint of a mounted volume.", valueName: "backing|mountpoint"))
    var path: String

    @OptionGroup var key: KeyOptions

    @Flag(help: "Also give every file a new file key and re-encrypt its contents and names.")
    var reencrypt = false

    @Option(help: "Cipher of the new epoch (default: the current one).")
    var cipher: CipherChoice?

    func run() throws {
        let located = VolumeLocator.locate(path)
        let backing = located.backingPath
        let config = try Volume.loadConfig(backingPath: backing)
        let (keyring, kek) = try KeyLifecycle.unlock(key, config: config, backing: backing)
        let mounted = KeyLifecycle.isMounted(located)

        // The epochs a running daemon holds: a new epoch never takes one of their numbers.
        var daemonEpochs: [UInt32] = []
        var daemonGeneration: UInt64?
        if mounted, let reply = ControlClient.send(ControlRequest(op: .status), backingPath: backing, volumeID: config.volumeID), reply.ok {
            daemonEpochs = reply.epochs ?? []
            daemonGeneration = reply.configGeneration
        }
        // Start a rotation, or resume the one an interruption left in tdefs.conf.
        var started: EpochKeys?
        let updated = try ConfigTransaction.update(backingPath: backing, kek: kek) { c in
            try ConfigRollbackCheck.refuse(c, daemonGeneration: daemonGeneration, backing: backing)
            if let r = c.rotation { try Self.refuseOtherKind(r, reencrypt: reencrypt, backing: backing) }
            // Re-encryption writes every file in the newest format (a v1 volume becomes v2), so
            // from here on a release that reads only the older format refuses the volume.
            if reencrypt { c.formatVersion = max(c.formatVersion, VolumeConfig.formatVersion) }
            if let r = c.rotation, let to = r.toEpoch, let record = c.epoch(to),
               cipher == nil || cipher!.size == record.cipher, r.state == (reencrypt ? "reencrypting" : "rewrapping") {
                return
            }
            let size = cipher?.size ?? c.cipher ?? .aes256
            started = try EpochFactory.addEpoch(to: &c, kek: kek, cipher: size, inUse: daemonEpochs, path: backing)
            c.rotation = .init(state: reencrypt ? "reencrypting" : "rewrapping", done: 0, total: 0, toEpoch: started!.epoch)
        }
        let target: EpochKeys
        if let started {
            target = started
            keyring.add(started, makeCurrent: true)
        } else {
            // Resuming: the interrupted rotation's epoch was already in tdefs.conf when we unlocked.
            guard let to = updated.rotation?.toEpoch, let existing = keyring.epoch(to) else {
                throw CLIError(.failure, "another rotation changed \(backing) meanwhile; run tdefs rotate again")
            }
            target = existing
            keyring.add(existing, makeCurrent: true)
        }
        try KeyLifecycle.audit(started != nil ? .rotateStarted : .rotateResumed, config: updated, backing: backing,
                           epoch: target.epoch, [("online", mounted ? "true" : "false"), ("reencrypt", reencrypt ? "true" : "false")])

        if mounted {
            // The master key travels after the request line, from locked memory to locked memory.
            let request = ControlRequest(op: .addEpoch, epoch: target.epoch, cipher: target.size.cipherName, generation: updated.generation)
            guard let reply = ControlClient.send(request, backingPath: backing, volumeID: updated.volumeID, key: target.masterKey) else {
                throw CLIError(.failure, "\(backing) is mounted but its daemon does not answer on its control socket; "
                    + "the rotation is recorded and resumes with the next tdefs rotate")
            }
            guard reply.ok else {
                throw CLIError(.corruptVolume, "the daemon of \(backing) refused key epoch \(target.epoch): \(reply.error ?? "no reason given")")
            }
        }

        if reencrypt {
            try reencryptAll(backing: backing, keyring: keyring, kek: kek, target: target, mounted: mounted, volumeID: updated.volumeID)
            let final = try ConfigTransaction.update(backingPath: backing, kek: kek) { c in c.rotation = nil }
            if mounted { ConfigRollbackCheck.tellDaemon(final, backing: backing) }
            let census = try VolumeCensus.count(backingPath: backing, currentEpoch: final.currentEpoch)
            try KeyLifecycle.audit(.rotateDone, config: final, backing: backing, epoch: target.epoch,
                               [("files", String(census.filesPerEpoch[target.epoch, default: 0])), ("reencrypted", "true")])
            Console.out("tdefs: re-encrypted \(backing) under epoch \(target.epoch) (\(target.size.cipherName))"
                + "\(mounted ? " online" : ""); older epochs can now be exported and retired")
            return
        }
        let bar = ProgressBar(label: "rotate")
        var lastSave = ProgressBar.now()
        let rewrap = HeaderRewrap(backingPath: backing, keyring: keyring, target: target) { done, total in
            bar.update(doneBytes: Int64(done), totalBytes: Int64(total), items: done)
            let now = ProgressBar.now()
            if now - lastSave > 2 {
                lastSave = now
                Self.saveProgress(backing, kek: kek, done: done, total: total)
            }
        }
        let outcome = try rewrap.run()
        bar.finish()
        guard outcome.failed.isEmpty else {
            throw CLIError(.corruptVolume, "\(outcome.failed.count) file(s) could not be rewrapped (run tdefs fsck), e.g. "
                + outcome.failed.prefix(3).joined(separator: ", "))
        }
        let total = outcome.rewrapped + outcome.alreadyCurrent
        let final = try ConfigTransaction.update(backingPath: backing, kek: kek) { c in c.rotation = nil }
        // The daemon's census predates the rewrap: it counts again.
        if mounted { _ = ControlClient.send(ControlRequest(op: .recount, generation: final.generation), backingPath: backing, volumeID: final.volumeID) }
        try KeyLifecycle.audit(.rotateDone, config: final, backing: backing, epoch: target.epoch,
                           [("files", String(total)), ("rewrapped", String(outcome.rewrapped))])
        Console.out("tdefs: rotated \(backing) to epoch \(target.epoch) (\(target.size.cipherName)): "
            + "\(outcome.rewrapped) file key(s) rewrapped\(mounted ? " online" : "")")
    }

    /// A plain rotate and a --reencrypt never overlap: while one is recorded in tdefs.conf (running,
    /// or interrupted and waiting to be resumed; online, the daemon's re-key goes on even without
    /// its CLI), the other kind is refused, so no rewrap starts towards another epoch than the
    /// re-key's and no re-key starts before every header names the rewrap's epoch.
    static func refuseOtherKind(_ r: VolumeConfig.Rotation, reencrypt: Bool, backing: String) throws {
        let wanted = reencrypt ? "reencrypting" : "rewrapping"
        guard r.state != wanted else { return }
        let recorded = r.state == "reencrypting" ? "tdefs rotate --reencrypt" : "tdefs rotate (without --reencrypt)"
        throw CLIError(.alreadyMounted, "\(backing) has a \(r.state) rotation towards epoch \(r.toEpoch.map(String.init) ?? "?") "
            + "in progress or interrupted; let it finish, or finish it with \(recorded), before this rotation")
    }

    /// Records progress in tdefs.conf (status shows it) and as an audit event.
    static func saveProgress(_ backing: String, kek: SecureBytes, done: Int, total: Int) {
        guard let c = try? ConfigTransaction.update(backingPath: backing, kek: kek, { c in
            c.rotation?.done = UInt64(done)
            c.rotation?.total = UInt64(total)
        }) else { return }
        // Best effort, like the progress record itself: the rotation's start and end are audited.
        try? KeyLifecycle.audit(.rotateProgress, config: c, backing: backing, epoch: c.rotation?.toEpoch,
                           [("done", String(done)), ("total", String(total))])
    }

    /// Every file, name, symlink and directory attribute under the target epoch: by the daemon
    /// when mounted (polled for progress), else by an engine in this process.
    func reencryptAll(backing: String, keyring: Keyring, kek: SecureBytes, target: EpochKeys, mounted: Bool, volumeID: [UInt8]) throws {
        let census = try VolumeCensus.count(backingPath: backing, currentEpoch: target.epoch)
        let totalFiles = census.filesPerEpoch.values.reduce(0, +)
        let bar = ProgressBar(label: "re-encrypt")
        var lastSave = ProgressBar.now()
        func report(files: Int, bytes: Int64) {
            bar.update(doneBytes: Int64(files), totalBytes: Int64(max(totalFiles, files)), items: files)
            let now = ProgressBar.now()
            if now - lastSave > 2 { lastSave = now; Self.saveProgress(backing, kek: kek, done: files, total: max(totalFiles, files)) }
        }
        if mounted {
            guard let first = ControlClient.send(ControlRequest(op: .reencrypt, epoch: target.epoch), backingPath: backing, volumeID: volumeID), first.ok else {
                throw CLIError(.failure, "the daemon of \(backing) refused to re-encrypt; run tdefs rotate --reencrypt again")
            }
            while true {
                usleep(200_000)
                guard let r = ControlClient.send(ControlRequest(op: .status), backingPath: backing, volumeID: volumeID) else {
                    throw CLIError(.failure, "the daemon of \(backing) stopped answering; run tdefs rotate --reencrypt again to resume")
                }
                report(files: r.files ?? 0, bytes: r.bytes ?? 0)
                if r.reencrypt == "done" { break }
                if r.reencrypt != "running" {
                    throw CLIError(.failure, "online re-encryption failed (\(r.error ?? "see the daemon's log")); run tdefs rotate --reencrypt again to resume")
                }
            }
        } else {
            let lock = try VolumeLock(backingPath: backing)
            defer { withExtendedLifetime(lock) {} }
            let logger = Logger(label: "tdefs")
            // The target is recorded: directories it has not reached yet may keep unauthenticated IVs.
            let fs = try FileSystem(backingPath: backing, keyring: keyring, options: EngineOptions(chownToCaller: false, reencryptTarget: target.epoch),
                                    logger: logger)
            defer { fs.destroy() }
            try fs.reencryptTree(to: target) { p in report(files: p.files, bytes: p.bytes) }
        }
        bar.finish()
    }
}
