import ArgumentParser
import TDEFSCore

/// The new key source of `passwd`: exactly one of --new-key-file, --new-passphrase-file,
/// --new-key-command, --new-passphrase-command.
struct NewKeyOptions: ParsableArguments {
    @Option(name: .customLong("new-key-file"), help: ArgumentHelp("The new key file.", valueName: "path"))
    var newKeyFile: String?

    @Option(name: .customLong("new-passphrase-file"), help: ArgumentHelp("A file whose first line is the new passphrase.", valueName: "path"))
    var newPassphraseFile: String?

    @Option(name: .customLong("new-key-command"), help: ArgumentHelp("A command that prints the new key.", valueName: "command"))
    var newKeyCommand: String?

    @Option(name: .customLong("new-passphrase-command"), help: ArgumentHelp(
        "A command that prints the new passphrase (stretched with scrypt).", valueName: "command"))
    var newPassphraseCommand: String?

    func validate() throws {
        let given = [newKeyFile, newPassphraseFile, newKeyCommand, newPassphraseCommand].compactMap { $0 }
        if given.count != 1 {
            throw ValidationError("give exactly one of --new-key-file, --new-passphrase-file, --new-key-command, --new-passphrase-command")
        }
    }

    var source: KeySource {
        if let newKeyFile { return .keyFile(newKeyFile) }
        if let newPassphraseFile { return .passphraseFile(newPassphraseFile) }
        if let newPassphraseCommand { return .passphraseCommand(newPassphraseCommand) }
        return .keyCommand(newKeyCommand!)
    }
}

/// Shared steps of the key-lifecycle commands.
enum KeyLifecycle {
    /// A fresh key-source record (new salt) for a source of this kind.
    static func newKeySource(for source: KeySource, cost: ScryptCostOption) throws(CLIError) -> VolumeConfig.KeySource {
        let kdf = source.kdfForNewVolume
        return VolumeConfig.KeySource(kdf: kdf, salt: Random.bytes(VolumeConfig.saltBytes),
                                      scrypt: kdf == .scrypt ? try cost.parameters() : nil)
    }

    /// Reads a secret from `source` and derives the key-encryption key for `keySource`.
    static func kek(from source: KeySource, keySource: VolumeConfig.KeySource) throws -> SecureBytes {
        let secret = try source.read(confirm: false, warn: { Console.warn($0) })
        guard let kek = VolumeCrypto.deriveKEK(secret: try secret.material(for: keySource.kdf), keySource: keySource) else {
            throw CLIError(.failure, "key derivation failed")
        }
        return kek
    }

    /// Unlocks with the KEY options; records a failed unlock in the audit log.
    static func unlock(_ key: KeyOptions, config: VolumeConfig, backing: String) throws -> (Keyring, SecureBytes) {
        let (_, secret) = try key.read(confirm: false)
        let material = try secret.material(for: config.keySource.kdf)
        do {
            let keyring = try Volume.unlock(config: config, secret: material, path: backing)
            guard let kek = VolumeCrypto.deriveKEK(secret: material, keySource: config.keySource) else {
                throw CLIError(.failure, "key derivation failed")
            }
            return (keyring, kek)
        } catch VolumeError.wrongKey(let path) {
            audit("unlock-failed", config: config, backing: backing, epoch: config.currentEpoch)
            throw VolumeError.wrongKey(path: path)
        }
    }

    static func audit(_ event: String, config: VolumeConfig, backing: String, epoch: UInt32?, _ details: [(String, String)] = []) {
        AuditLog.record(event, volume: Base64URL.encode(config.volumeID), backing: backing, epoch: epoch, details: details)
    }

    /// True when a daemon serves the volume (mounted, or its lock is held).
    static func isMounted(_ located: LocatedVolume) -> Bool {
        located.mount != nil || VolumeLock.isHeld(backingPath: located.backingPath)
    }
}
