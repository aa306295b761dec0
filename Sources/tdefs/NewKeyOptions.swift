import ArgumentParser
import TDEFSCore

/// The new key source of `passwd`: exactly one of --new-key-file, --new-passphrase-file,
/// --new-key-command, --new-passphrase-command, --new-key-kmip (which reaches the server with the
/// --kmip-client-* and --kmip-ca files of KEY, and --kmip-mode), --new-key-pkcs11 (with its own
/// --new-pkcs11-module and --new-pkcs11-pin-file).
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

    @Option(name: .customLong("new-key-kmip"), help: ArgumentHelp(
        "A KMIP server to hold the new key (reached with --kmip-client-cert, --kmip-client-key, --kmip-ca).",
        valueName: "host:port"))
    var newKeyKMIP: String?

    @Option(name: .customLong("new-kmip-key-id"), help: ArgumentHelp(
        "With --new-key-kmip: use this existing key instead of creating one.", valueName: "id"))
    var newKMIPKeyID: String?

    @Option(name: .customLong("new-key-pkcs11"), help: ArgumentHelp(
        "A PKCS#11 token's AES key to wrap the new key (RFC 7512 URI; made on the token when missing).", valueName: "pkcs11:..."))
    var newKeyPKCS11: String?

    @Option(name: .customLong("new-pkcs11-module"), help: ArgumentHelp("With --new-key-pkcs11: the PKCS#11 module to load.", valueName: "path"))
    var newPKCS11Module: String?

    @Option(name: .customLong("new-pkcs11-pin-file"), help: ArgumentHelp("With --new-key-pkcs11: the file with the token's PIN.", valueName: "path"))
    var newPKCS11PinFile: String?

    func validate() throws {
        // How many are given is passwd's to check (--remove-slot takes none).
        if givenCount > 1 {
            throw ValidationError("give exactly one of --new-key-file, --new-passphrase-file, --new-key-command, --new-passphrase-command, --new-key-kmip, --new-key-pkcs11")
        }
        if newKeyPKCS11 == nil && (newPKCS11Module != nil || newPKCS11PinFile != nil) {
            throw ValidationError("--new-pkcs11-module and --new-pkcs11-pin-file need --new-key-pkcs11")
        }
        if let newKeyPKCS11, !newKeyPKCS11.hasPrefix("pkcs11:") || newKeyPKCS11.contains("pin-value") {
            throw ValidationError("--new-key-pkcs11 takes a pkcs11: URI without a pin-value (give --new-pkcs11-pin-file)")
        }
        if let newKeyKMIP, KMIPConnection.parseEndpoint(newKeyKMIP) == nil {
            throw ValidationError("--new-key-kmip takes HOST:PORT (or [IPv6]:PORT)")
        }
        if newKMIPKeyID != nil && newKeyKMIP == nil { throw ValidationError("--new-kmip-key-id needs --new-key-kmip") }
        if newKMIPKeyID?.isEmpty == true { throw ValidationError("--new-kmip-key-id is empty") }
    }

    var givenCount: Int { [newKeyFile, newPassphraseFile, newKeyCommand, newPassphraseCommand, newKeyKMIP, newKeyPKCS11].compactMap { $0 }.count }

    /// The new secret's source; nil for a KMIP key.
    var source: KeySource? {
        if let newKeyFile { return .keyFile(newKeyFile) }
        if let newPassphraseFile { return .passphraseFile(newPassphraseFile) }
        if let newPassphraseCommand { return .passphraseCommand(newPassphraseCommand) }
        if let newKeyCommand { return .keyCommand(newKeyCommand) }
        return nil
    }

    /// The new key source's record (fresh salt) and the key it derives (the KEK of a volume with
    /// one slot, or what wraps the KEK in a slot) for the volume `volumeID`; `key` lends the KMIP
    /// client files and mode.
    func newKey(volumeID: [UInt8], key: KeyOptions, cost: ScryptCostOption) throws -> (VolumeConfig.KeySource, SecureBytes, NewVolumeKey?) {
        // A key manager's new key: the server or token wraps a fresh data key.
        var managed: NewVolumeKey?
        if let newKeyKMIP {
            managed = try NewVolumeKey.kmip(server: try key.kmipServer(newKeyKMIP), keyID: newKMIPKeyID, mode: key.kmipMode?.mode ?? .encrypt,
                                            volumeID: volumeID)
        } else if let newKeyPKCS11 {
            managed = try NewVolumeKey.pkcs11(uri: newKeyPKCS11, modulePath: newPKCS11Module,
                                              pin: try KeyOptions.pkcs11Pin(file: newPKCS11PinFile, uri: newKeyPKCS11), volumeID: volumeID)
        }
        if let managed {
            let (keySource, derived) = try managed.keySource()
            return (keySource, derived, managed)
        }
        let source = source!
        let keySource = try KeyLifecycle.newKeySource(for: source, cost: cost)
        return (keySource, try KeyLifecycle.kek(from: source, keySource: keySource), nil)
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

    /// Unlocks with the KEY options through any key slot they open; records a failed unlock in the
    /// audit log. The keyring and the volume's KEK.
    static func unlock(_ key: KeyOptions, config: VolumeConfig, backing: String) throws -> (Keyring, SecureBytes) {
        try checkAuditable()
        let opened = try openKEK(key, config: config, backing: backing)
        return (opened.keyring, opened.kek)
    }

    /// The KEK and the slot the KEY options open; a wrong key is audited.
    static func openKEK(_ key: KeyOptions, config: VolumeConfig, backing: String,
                        kmipFilesServeNewKey: Bool = false) throws -> OpenedVolume {
        do {
            return try key.openKEK(for: config, backing: backing, kmipFilesServeNewKey: kmipFilesServeNewKey)
        } catch VolumeError.wrongKey(let path) {
            try? audit(.unlockFailed, config: config, backing: backing, epoch: config.currentEpoch)
            throw VolumeError.wrongKey(path: path)
        }
    }

    /// Records a key event (docs/audit.md); a failure to write the audit file is this command's
    /// failure, after what it did (`checkAuditable` refuses before anything is done).
    static func audit(_ kind: AuditEvent.Kind, config: VolumeConfig, backing: String, epoch: UInt32?,
                      _ details: [(String, String)] = []) throws(CLIError) {
        do {
            try AuditLog.record(AuditEvent(kind, volume: Base64URL.encode(config.volumeID), backing: backing, epoch: epoch,
                                           keySource: config.keySource, details: details))
        } catch {
            throw CLIError(.failure, "\(kind.rawValue) of \(backing) was done, but its audit event was not recorded: \(error)")
        }
    }

    /// Refuses a key operation whose audit event could not be recorded, before it changes anything.
    static func checkAuditable() throws(CLIError) {
        do {
            try AuditLog.checkWritable()
        } catch {
            throw CLIError(.failure, "\(error): the key operation is refused, as it could not be audited")
        }
    }

    /// True when a daemon serves the volume (mounted, or its lock is held).
    static func isMounted(_ located: LocatedVolume) -> Bool {
        located.mount != nil || VolumeLock.isHeld(backingPath: located.backingPath)
    }
}
