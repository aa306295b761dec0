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
        // The volume ID names a key made on a KMIP server; the configuration is read again under the lock.
        let volumeID = try Volume.loadConfig(backingPath: backing).volumeID
        let (keySource, newKEK, kmip) = try newKey.newKey(volumeID: volumeID, key: key, cost: scryptCost)
        let config: VolumeConfig
        do {
            config = try ConfigTransaction.replaceKey(backingPath: backing) { config in
                // Checked under the lock, against the configuration being replaced.
                let (keyring, _) = try KeyLifecycle.unlock(key, config: config, backing: backing,
                                                           kmipFilesServeNewKey: newKey.newKeyKMIP != nil)
                try EpochFactory.rewrapAll(&config, keyring: keyring, kek: newKEK, keySource: keySource)
                return newKEK
            }
        } catch {
            kmip?.discardCreatedKey()
            throw error
        }
        if KeyLifecycle.isMounted(located) { ConfigRollbackCheck.tellDaemon(config, backing: backing) }
        try KeyLifecycle.audit(.passwd, config: config, backing: backing, epoch: config.currentEpoch,
                           kmip?.auditDetails ?? [("kdf", keySource.kdf.rawValue)])
        Console.out("tdefs: key source of \(backing) replaced (\(keySource.kdf.rawValue)); the old key no longer opens it")
    }
}
