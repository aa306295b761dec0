import TDEFSCore

/// The key material of a volume's KDF, had from the KEY options: read from a file, command,
/// credential or the terminal, or asked of a KMIP server. tdefs.conf decides how an existing
/// volume's secret is used; the options decide what a new volume gets.
extension KeyOptions {
    /// What opens the existing volume `config` (the input of its KDF). `kmipFilesServeNewKey`:
    /// the --kmip-client-* files are there for passwd's --new-key-kmip, not for KEY.
    func material(for config: VolumeConfig, backing: String, kmipFilesServeNewKey: Bool = false) throws -> SecureBytes {
        if !kmipFilesServeNewKey { try refuseKMIPModeForExistingKey() }
        if config.keySource.kdf == .kmip, let record = config.keySource.kmip {
            guard let keyKMIP else {
                throw CLIError(.usage, "the key of \(backing) is held by a KMIP server (key \(record.keyID)): "
                               + "give --key-kmip HOST:PORT with --kmip-client-cert, --kmip-client-key and --kmip-ca")
            }
            if let kmipKeyID, kmipKeyID != record.keyID {
                throw CLIError(.usage, "--kmip-key-id \(kmipKeyID) is not the key of \(backing) (\(record.keyID))")
            }
            return try KMIPEnvelope.open(record, server: try kmipServer(keyKMIP))
        }
        if config.keySource.kdf == .pkcs11, let record = config.keySource.pkcs11 {
            guard let keyPKCS11 else {
                throw CLIError(.usage, "the key of \(backing) is wrapped by a PKCS#11 token (\(record.uri)): give --key-pkcs11 URI "
                               + "(and --pkcs11-pin-file)")
            }
            return try PKCS11Envelope.open(record, uri: keyPKCS11, modulePath: pkcs11Module, pin: try pkcs11Pin(uri: keyPKCS11),
                                           volumeID: config.volumeID)
        }
        if keyPKCS11 != nil {
            throw CLIError(.usage, "the key of \(backing) is not wrapped by a PKCS#11 token (key derivation \(config.keySource.kdf.rawValue))")
        }
        if keyKMIP != nil {
            throw CLIError(.usage, "the key of \(backing) is not held by a KMIP server (key derivation \(config.keySource.kdf.rawValue)): "
                           + "give its key file, passphrase or key command")
        }
        if !kmipFilesServeNewKey { try refuseStrayKMIPOptions() }
        let (_, secret) = try read(confirm: false)
        return try secret.material(for: config.keySource.kdf)
    }

    /// The KDF, key material and (for a KMIP key) record of a new volume with ID `volumeID`.
    func newVolumeKey(volumeID: [UInt8]) throws -> NewVolumeKey {
        if let keyKMIP {
            return try NewVolumeKey.kmip(server: try kmipServer(keyKMIP), keyID: kmipKeyID, mode: kmipMode?.mode ?? .encrypt,
                                         volumeID: volumeID)
        }
        try refuseStrayKMIPOptions()
        try refuseKMIPModeForExistingKey()
        if let keyPKCS11 {
            let made = try PKCS11Envelope.make(uri: keyPKCS11, modulePath: pkcs11Module, pin: try pkcs11Pin(uri: keyPKCS11),
                                               volumeID: volumeID)
            var key = NewVolumeKey(kdf: .pkcs11, material: made.secret, kmip: nil)
            key.pkcs11 = made.record
            return key
        }
        let (source, secret) = try read(confirm: true)
        let kdf = source.kdfForNewVolume
        return NewVolumeKey(kdf: kdf, material: try secret.material(for: kdf), kmip: nil)
    }
}

/// A new volume's (or a new key source's) KDF and material; for a KMIP key, its record, the
/// server, and the key made for it (discarded when the volume is then not written).
struct NewVolumeKey {
    let kdf: VolumeConfig.KeyDerivation
    let material: SecureBytes
    let kmip: KMIPRecord?
    var pkcs11: PKCS11Record?
    var server: KMIPKeyServer?
    var createdKeyID: String?

    init(kdf: VolumeConfig.KeyDerivation, material: SecureBytes, kmip: KMIPRecord?) {
        self.kdf = kdf; self.material = material; self.kmip = kmip
    }

    /// Asks `server` for an envelope under key `keyID`, or under a key it makes now, named after
    /// the volume ("tdefs-" and the volume ID in base64url).
    static func kmip(server: KMIPKeyServer, keyID: String?, mode: KMIPRecord.Mode, volumeID: [UInt8]) throws -> NewVolumeKey {
        let made = try KMIPEnvelope.make(server: server, keyID: keyID, keyName: "tdefs-" + Base64URL.encode(volumeID), mode: mode)
        var key = NewVolumeKey(kdf: .kmip, material: made.secret, kmip: made.record)
        key.server = server
        key.createdKeyID = made.created
        return key
    }

    /// Revokes and destroys the key made for a volume (or key source) that was then not written
    /// (best effort: a warning names the key when the server refuses). Never when tdefs.conf in
    /// `backing` names the key: a write that failed after its rename (the directory's fsync) has
    /// put the key in use.
    func discardCreatedKey(unlessRecordedIn backing: String) {
        guard let server, let createdKeyID else { return }
        if let config = try? Volume.loadConfig(backingPath: backing), config.keySource.kmip?.keyID == createdKeyID { return }
        do {
            try server.discard(createdKeyID)
        } catch {
            Console.warn("warning: the KMIP key \(createdKeyID) made for this volume could not be removed: \(error)")
        }
    }

    /// Audit details: the key source kind, and for KMIP the server and the key's identifier.
    var auditDetails: [(String, String)] {
        var details = [("kdf", kdf.rawValue)]
        if let kmip {
            details += [("keyManager", "kmip"), ("kmipKeyID", kmip.keyID), ("kmipMode", kmip.mode.rawValue)]
            if let server { details.append(("kmipServer", server.endpoint)) }
        }
        if let pkcs11 { details += [("keyManager", "pkcs11"), ("pkcs11URI", pkcs11.uri)] }
        return details
    }
}
