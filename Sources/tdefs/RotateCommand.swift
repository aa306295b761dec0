import ArgumentParser
import Glibc
import TDEFSCore

/// tdefs rotate BACKING|MOUNTPOINT [KEY] [--reencrypt] [--cipher ...]
struct RotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Make a new master-key epoch and rewrap every file key under it (online when mounted).",
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

        // Start a rotation, or resume the one an interruption left in tdefs.conf.
        var started: EpochKeys?
        let updated = try ConfigTransaction.update(backingPath: backing) { c in
            if let r = c.rotation, let to = r.toEpoch, let record = c.epoch(to),
               cipher == nil || cipher!.size == record.cipher, r.state == (reencrypt ? "reencrypting" : "rewrapping") {
                return
            }
            let size = cipher?.size ?? c.cipher ?? .aes256
            started = EpochFactory.addEpoch(to: &c, kek: kek, cipher: size)
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
        KeyLifecycle.audit(started != nil ? "rotate-started" : "rotate-resumed", config: updated, backing: backing,
                           epoch: target.epoch, [("online", mounted ? "true" : "false"), ("reencrypt", reencrypt ? "true" : "false")])

        if mounted {
            let request = ControlRequest(op: .addEpoch, epoch: target.epoch, cipher: target.size.cipherName,
                                         key: target.masterKey.withUnsafeBytes { Base64URL.encode($0) })
            guard let reply = ControlClient.send(request, volumeID: updated.volumeID), reply.ok else {
                throw CLIError(.failure, "\(backing) is mounted but its daemon does not answer on its control socket; "
                    + "the rotation is recorded and resumes with the next tdefs rotate")
            }
        }

        let bar = ProgressBar(label: "rotate")
        var lastSave = ProgressBar.now()
        let rewrap = HeaderRewrap(backingPath: backing, keyring: keyring, target: target) { done, total in
            bar.update(doneBytes: Int64(done), totalBytes: Int64(total), items: done)
            let now = ProgressBar.now()
            if now - lastSave > 2 {
                lastSave = now
                _ = try? ConfigTransaction.update(backingPath: backing) { c in
                    c.rotation?.done = UInt64(done)
                    c.rotation?.total = UInt64(total)
                }
            }
        }
        let outcome = try rewrap.run()
        bar.finish()
        if reencrypt {
            throw CLIError(.failure, "rotate --reencrypt is not available yet; headers were rewrapped under epoch \(target.epoch)")
        }
        guard outcome.failed.isEmpty else {
            throw CLIError(.corruptVolume, "\(outcome.failed.count) file(s) could not be rewrapped (run tdefs fsck), e.g. "
                + outcome.failed.prefix(3).joined(separator: ", "))
        }
        let total = outcome.rewrapped + outcome.alreadyCurrent
        let final = try ConfigTransaction.update(backingPath: backing) { c in c.rotation = nil }
        KeyLifecycle.audit("rotate-done", config: final, backing: backing, epoch: target.epoch,
                           [("files", String(total)), ("rewrapped", String(outcome.rewrapped))])
        Console.out("tdefs: rotated \(backing) to epoch \(target.epoch) (\(target.size.cipherName)): "
            + "\(outcome.rewrapped) file key(s) rewrapped\(mounted ? " online" : "")")
    }
}
