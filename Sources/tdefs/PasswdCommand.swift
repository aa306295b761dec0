import ArgumentParser
import TDEFSCore

/// tdefs passwd BACKING [KEY] (--new-key-file P | --new-passphrase-file P | --new-key-command C)
struct PasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Replace the volume's key source; rewrites tdefs.conf only (works while mounted).",
        usage: Synopsis.usage(Synopsis.passwd))

    @Argument(help: ArgumentHelp("The backing directory, or the mountpoint of a mounted volume.", valueName: "backing|mountpoint"))
    var path: String

    @OptionGroup var key: KeyOptions
    @OptionGroup var newKey: NewKeyOptions
    @OptionGroup var scryptCost: ScryptCostOption

    @Flag(name: .customLong("add-slot"), help: "Add the new key source as another key slot; the existing ones keep opening the volume.")
    var addSlot = false

    @Option(name: .customLong("remove-slot"), help: ArgumentHelp("Remove key slot N (status lists them); the last one is never removed.",
                                                                 valueName: "n"))
    var removeSlot: Int?

    func validate() throws {
        if removeSlot != nil {
            guard !addSlot, newKey.givenCount == 0 else { throw ValidationError("--remove-slot takes no new key options and no --add-slot") }
        } else if newKey.givenCount != 1 {
            throw ValidationError("give exactly one of --new-key-file, --new-passphrase-file, --new-key-command, --new-passphrase-command, "
                                  + "--new-key-kmip, --new-key-pkcs11 (or --remove-slot N)")
        }
    }

    func run() throws {
        try KeyLifecycle.checkAuditable()
        let located = VolumeLocator.locate(path)
        let backing = located.backingPath
        // The old key is checked first, so that a wrong one stops here, before a key manager is
        // asked to make a key; the secret is read once (a prompt asks once).
        let current = try Volume.loadConfig(backingPath: backing)
        let opened = try KeyLifecycle.openKEK(key, config: current, backing: backing, kmipFilesServeNewKey: newKey.newKeyKMIP != nil)
        let kek = opened.kek, openedSlot = opened.slot
        if let n = removeSlot { return try remove(slot: n, kek: kek, located: located) }
        let (keySource, slotKey, made) = try newKey.newKey(volumeID: current.volumeID, key: key, cost: scryptCost)
        let config: VolumeConfig
        var details = made?.auditDetails ?? [("kdf", keySource.kdf.rawValue)]
        let message: String
        do {
            if addSlot || !current.keySlots.isEmpty {
                // Slots: the new source wraps the volume's KEK, which stays; the others keep opening it.
                var wrapped = keySource
                wrapped.wrappedKEK = KeySlots.wrap(kek: kek, slotKey: slotKey, volumeID: current.volumeID)
                var slot = openedSlot
                config = try ConfigTransaction.update(backingPath: backing, kek: kek) { c in
                    if addSlot {
                        // The lowest free number: removed slots' numbers are used again.
                        let taken = Set(c.allSlots.map(\.slot))
                        guard let free = (1...255).first(where: { !taken.contains($0) }) else {
                            throw CLIError(.failure, "\(backing) has 256 key slots already: remove one first")
                        }
                        slot = free
                        c.keySlots.append(.init(slot: slot, source: wrapped))
                        c.keySlots.sort { $0.slot < $1.slot }
                        c.formatVersion = max(c.formatVersion, FormatVersions.keySlots)
                    } else if slot == 0 {
                        c.keySource = wrapped
                    } else if let i = c.keySlots.firstIndex(where: { $0.slot == slot }) {
                        c.keySlots[i].source = wrapped
                    } else {
                        throw CLIError(.failure, "key slot \(slot) of \(backing) was removed meanwhile; run tdefs passwd again")
                    }
                }
                details += [("slot", String(slot)), ("slotChange", addSlot ? "add" : "replace")]
                message = addSlot ? "key slot \(slot) added to \(backing) (\(keySource.kdf.rawValue)); the other slots still open it"
                                  : "key slot \(slot) of \(backing) replaced (\(keySource.kdf.rawValue)); its old key no longer opens this tdefs.conf"
            } else {
                config = try ConfigTransaction.replaceKey(backingPath: backing) { config in
                    // A slot added meanwhile would stop opening the volume under a new KEK.
                    guard config.keySlots.isEmpty else {
                        throw CLIError(.failure, "a key slot was added to \(backing) meanwhile; run tdefs passwd again")
                    }
                    let keyring = try Volume.unlock(config: config, kek: kek, path: backing)
                    try EpochFactory.rewrapAll(&config, keyring: keyring, kek: slotKey, keySource: keySource)
                    return slotKey
                }
                message = "key source of \(backing) replaced (\(keySource.kdf.rawValue)); the old key no longer opens it"
            }
        } catch {
            made?.discardCreatedKey(unlessRecordedIn: backing)
            throw error
        }
        if KeyLifecycle.isMounted(located) { ConfigRollbackCheck.tellDaemon(config, backing: backing) }
        try KeyLifecycle.audit(.passwd, config: config, backing: backing, epoch: config.currentEpoch, details)
        Console.out("tdefs: " + message)
    }

    /// --remove-slot N: the slot goes; slot 0's place is taken by the lowest other slot.
    func remove(slot n: Int, kek: SecureBytes, located: LocatedVolume) throws {
        let backing = located.backingPath
        let config = try ConfigTransaction.update(backingPath: backing, kek: kek) { c in
            let numbers = c.allSlots.map(\.slot)
            guard numbers.contains(n) else {
                throw CLIError(.failure, "\(backing) has no key slot \(n) (its slots: \(numbers.map(String.init).joined(separator: ", ")))")
            }
            guard numbers.count > 1 else {
                throw CLIError(.failure, "key slot \(n) is the last one of \(backing): removing it would leave nothing that opens the "
                               + "volume (tdefs shred destroys its keys on purpose)")
            }
            if n == 0 {
                c.keySource = c.keySlots.removeFirst().source
            } else {
                c.keySlots.removeAll { $0.slot == n }
            }
        }
        if KeyLifecycle.isMounted(located) { ConfigRollbackCheck.tellDaemon(config, backing: backing) }
        try KeyLifecycle.audit(.passwd, config: config, backing: backing, epoch: config.currentEpoch,
                               [("slot", String(n)), ("slotChange", "remove")])
        Console.out("tdefs: key slot \(n) of \(backing) removed; its key no longer opens this tdefs.conf"
            + (n == 0 ? " (the lowest other slot is now slot 0)" : ""))
    }
}
