import ArgumentParser
import TDEFSCore

/// tdefs shred BACKING [KEY] --confirm-destroy-all-data
struct ShredCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shred",
        abstract: "Destroy a volume's keys for good, so that its data can never be decrypted.",
        usage: Synopsis.usage(Synopsis.shred),
        discussion: """
            Needs the key (to show it is yours) and --confirm-destroy-all-data, and an unmounted volume. \
            A KMIP-held key is revoked and destroyed on the server; tdefs.conf is overwritten in place \
            with random bytes and replaced by a marker, so every later command says the volume was \
            shredded (exit 11). Copies of tdefs.conf kept elsewhere (backups, export-key files) still \
            open the data with the key, unless the key was a KMIP server's.
            """)

    @Argument(help: ArgumentHelp("The backing directory of an unmounted volume.", valueName: "backing"))
    var backing: String

    @OptionGroup var key: KeyOptions

    @Flag(name: .customLong("confirm-destroy-all-data"), help: "Confirms that every file of the volume is to be made unrecoverable.")
    var confirm = false

    func run() throws {
        guard confirm else {
            throw CLIError(.usage, "tdefs shred makes every file of \(backing) unrecoverable: give --confirm-destroy-all-data")
        }
        try KeyLifecycle.checkAuditable()
        let located = VolumeLocator.locate(backing)
        let path = located.backingPath
        // A locked mount (dead, no daemon) may stay; a daemon that holds the keys may not.
        if VolumeLock.isHeld(backingPath: path) {
            throw CLIError(.alreadyMounted, "\(path) is mounted: unmount it (or tdefs lock it) before shred")
        }
        // Held throughout: no mount starts while the keys go.
        let volumeLock = try VolumeLock(backingPath: path)
        defer { withExtendedLifetime(volumeLock) {} }
        let config = try Volume.loadConfig(backingPath: path)
        let opened = try KeyLifecycle.openKEK(key, config: config, backing: path)
        var details: [(String, String)] = []
        try ConfigTransaction.withLock(backingPath: path) {
            // The configuration the key opened is the one destroyed (no passwd in between).
            guard try Volume.loadConfig(backingPath: path) == config else {
                throw CLIError(.failure, "tdefs.conf of \(path) changed meanwhile; run tdefs shred again")
            }
            // The KMIP key of the slot this KEY opened, on the server that just proved it holds it
            // (another slot's key may live on another server, under an identifier that means
            // something else here).
            if let record = config.allSlots.first(where: { $0.slot == opened.slot })?.source.kmip, let endpoint = key.keyKMIP {
                do {
                    try key.kmipServer(endpoint).discard(record.keyID)
                    details.append(("kmipKeyDestroyed", "true"))
                } catch {
                    Console.warn("warning: the KMIP key \(record.keyID) could not be destroyed on the server (\(error)); destroy it there")
                    details.append(("kmipKeyDestroyed", "false"))
                }
            }
            let others = config.allSlots.filter { $0.slot != opened.slot && $0.source.kmip != nil }
            if !others.isEmpty {
                Console.warn("warning: the KMIP keys of key slots \(others.map { String($0.slot) }.joined(separator: ", ")) are left on their servers; revoke them there")
            }
            try VolumeShred.shred(backingPath: path, config: config)
        }
        try KeyLifecycle.audit(.shred, config: config, backing: path, epoch: config.currentEpoch, details)
        let copies = config.allSlots.count == 1 && config.keySource.kdf == .kmip && details.first?.1 == "true"
            ? "its KMIP key is destroyed too, so no copy of tdefs.conf opens it"
            : "a copy of tdefs.conf kept elsewhere (a backup, an export-key file) would still open it with the key"
        Console.out("tdefs: shredded \(path): its keys are destroyed and its files can never be decrypted; \(copies). "
            + "Remove the directory to free its space.")
    }
}
