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
        let located = VolumeLocator.locate(path)
        let backing = located.backingPath
        let keySource = try KeyLifecycle.newKeySource(for: newKey.source, cost: scryptCost)
        let newKEK = try KeyLifecycle.kek(from: newKey.source, keySource: keySource)
        let config = try ConfigTransaction.replaceKey(backingPath: backing) { config in
            // Checked under the lock, against the configuration being replaced.
            let (keyring, _) = try KeyLifecycle.unlock(key, config: config, backing: backing)
            try EpochFactory.rewrapAll(&config, keyring: keyring, kek: newKEK, keySource: keySource)
            return newKEK
        }
        if KeyLifecycle.isMounted(located) { ConfigRollbackCheck.tellDaemon(config, backing: backing) }
        KeyLifecycle.audit("passwd", config: config, backing: backing, epoch: config.currentEpoch,
                           [("kdf", keySource.kdf.rawValue)])
        Console.out("tdefs: key source of \(backing) replaced (\(keySource.kdf.rawValue)); the old key no longer opens it")
    }
}
