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

    func run() throws {
        try KeyLifecycle.checkAuditable()
        let located = VolumeLocator.locate(path)
        let backing = located.backingPath
        // The old key is checked first, so that a wrong one stops here, before a KMIP server is
        // asked to make a key; the configuration is unlocked again under the lock with the same
        // material (the secret is read once: a prompt asks once).
        let current = try Volume.loadConfig(backingPath: backing)
        let oldMaterial = try key.material(for: current, backing: backing, kmipFilesServeNewKey: newKey.newKeyKMIP != nil)
        _ = try KeyLifecycle.unlock(material: oldMaterial, config: current, backing: backing)
        let (keySource, newKEK, kmip) = try newKey.newKey(volumeID: current.volumeID, key: key, cost: scryptCost)
        let config: VolumeConfig
        do {
            config = try ConfigTransaction.replaceKey(backingPath: backing) { config in
                let (keyring, _) = try KeyLifecycle.unlock(material: oldMaterial, config: config, backing: backing)
                try EpochFactory.rewrapAll(&config, keyring: keyring, kek: newKEK, keySource: keySource)
                return newKEK
            }
        } catch {
            kmip?.discardCreatedKey(unlessRecordedIn: backing)
            throw error
        }
        if KeyLifecycle.isMounted(located) { ConfigRollbackCheck.tellDaemon(config, backing: backing) }
        try KeyLifecycle.audit(.passwd, config: config, backing: backing, epoch: config.currentEpoch,
                           kmip?.auditDetails ?? [("kdf", keySource.kdf.rawValue)])
        Console.out("tdefs: key source of \(backing) replaced (\(keySource.kdf.rawValue)); the old key no longer opens it")
    }
}
