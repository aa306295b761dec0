import TDEFSCore

/// The key material of a volume's KDF, had from the KEY options: read from a file, command,
/// credential or the terminal, or asked of a KMIP server. tdefs.conf decides how an existing
/// volume's secret is used; the options decide what a new volume gets.
extension KeyOptions {
    /// The volume's KEK, opened through the first key slot that the KEY options open (slot 0 is
    /// `keySource`, then `keySlots`), and that slot's number. `.wrongKey` when none opens it.
    /// `kmipFilesServeNewKey`: the --kmip-client-* files are there for passwd's --new-key-kmip.
    func openKEK(for config: VolumeConfig, backing: String, kmipFilesServeNewKey: Bool = false) throws -> OpenedVolume {
        if !kmipFilesServeNewKey { try refuseKMIPModeForExistingKey() }
        let slots = config.allSlots
        if let keyKMIP {
            let kmipSlots = slots.filter { $0.source.kdf == .kmip }
            guard !kmipSlots.isEmpty else {
                throw CLIError(.usage, "the key of \(backing) is not held by a KMIP server (key derivation \(config.keySource.kdf.rawValue)): "
                               + "give its key file, passphrase or key command")
            }
            // A key named by its name ("name:NAME", as init takes it) is any KMIP slot's.
            let byID = kmipKeyID.flatMap { $0.hasPrefix("name:") ? nil : $0 }
            let candidates = kmipSlots.filter { byID == nil || $0.source.kmip?.keyID == byID }
            guard !candidates.isEmpty else {
                let ids = kmipSlots.compactMap { $0.source.kmip?.keyID }.joined(separator: ", ")
                throw CLIError(.usage, "--kmip-key-id \(kmipKeyID ?? "") is not a key of \(backing) (\(ids))")
            }
            let server = try kmipServer(keyKMIP)
            return try firstOpening(candidates, config: config, backing: backing) { slot in
                try KMIPEnvelope.open(slot.source.kmip!, server: server)
            }
        }
        if let keyPKCS11 {
            let candidates = slots.filter { $0.source.kdf == .pkcs11 }
            guard !candidates.isEmpty else {
                throw CLIError(.usage, "the key of \(backing) is not wrapped by a PKCS#11 token (key derivation \(config.keySource.kdf.rawValue))")
            }
            let pin = try pkcs11Pin(uri: keyPKCS11)
            return try firstOpening(candidates, config: config, backing: backing) { slot in
                try PKCS11Envelope.open(slot.source.pkcs11!, uri: keyPKCS11, modulePath: pkcs11Module, pin: pin, volumeID: config.volumeID)
            }
        }
        let candidates = slots.filter { $0.source.kdf == .scrypt || $0.source.kdf == .hkdfSHA256 }
        guard !candidates.isEmpty else {
            if let record = config.keySource.pkcs11 {
                throw CLIError(.usage, "the key of \(backing) is wrapped by a PKCS#11 token (\(record.uri)): give --key-pkcs11 URI "
                               + "(and --pkcs11-pin-file)")
            }
            let id = config.keySource.kmip.map { " (key \($0.keyID))" } ?? ""
            throw CLIError(.usage, "the key of \(backing) is held by a KMIP server\(id): "
                           + "give --key-kmip HOST:PORT with --kmip-client-cert, --kmip-client-key and --kmip-ca")
        }
        if !kmipFilesServeNewKey { try refuseStrayKMIPOptions() }
        let (_, secret) = try read(confirm: false)
        return try firstOpening(candidates, config: config, backing: backing) { slot in
            try secret.material(for: slot.source.kdf)
        }
    }

    /// The first of `candidates` whose material opens the volume. An error getting a slot's
    /// material (a key server that refuses, a key file too short for a key slot) is thrown when no
    /// slot opens; none opening is `.wrongKey`.
    private func firstOpening(_ candidates: [VolumeConfig.KeySlot], config: VolumeConfig, backing: String,
                              material: (VolumeConfig.KeySlot) throws -> SecureBytes) throws -> OpenedVolume {
        var firstError: Error?
        var readAny = false
        for slot in candidates {
            do {
                let m = try material(slot)
                readAny = true
                guard let kek = KeySlots.kek(of: slot.source, material: m, volumeID: config.volumeID) else { continue }
                do {
                    return OpenedVolume(kek: kek, slot: slot.slot, keyring: try Volume.unlock(config: config, kek: kek, path: backing))
                } catch VolumeError.wrongKey {
                    continue
                }
            } catch let e as VolumeError where e != .wrongKey(path: backing) {
                throw e
            } catch let e as PKCS11Error where [.pinIncorrect, .badURI, .tokenAbsent, .setup].contains(e.kind) {
                throw e  // the same for every slot: a wrong PIN is not tried again (the token counts them)
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        // A secret that some slot could read and none opened is a wrong key.
        if let firstError, !readAny { throw firstError }
        throw VolumeError.wrongKey(path: backing)
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
            return try NewVolumeKey.pkcs11(uri: keyPKCS11, modulePath: pkcs11Module, pin: try pkcs11Pin(uri: keyPKCS11), volumeID: volumeID)
        }
        let (source, secret) = try read(confirm: true)
        let kdf = source.kdfForNewVolume
        return NewVolumeKey(kdf: kdf, material: try secret.material(for: kdf), kmip: nil)
    }
}

/// What the KEY options opened: the volume's KEK, the key slot it came through, and the epochs
/// it unlocked (each command uses this keyring rather than unwrapping every epoch again).
struct OpenedVolume {
    let kek: SecureBytes
    let slot: Int
    let keyring: Keyring
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

    /// Asks the token the URI names for an envelope under its AES key (made on the token when it
    /// has none).
    static func pkcs11(uri: String, modulePath: String?, pin: SecureBytes?, volumeID: [UInt8]) throws -> NewVolumeKey {
        let made = try PKCS11Envelope.make(uri: uri, modulePath: modulePath, pin: pin, volumeID: volumeID)
        var key = NewVolumeKey(kdf: .pkcs11, material: made.secret, kmip: nil)
        key.pkcs11 = made.record
        return key
    }

    /// A key-source record (fresh salt) for this key, and the key it derives.
    func keySource() throws(CLIError) -> (VolumeConfig.KeySource, SecureBytes) {
        let source = VolumeConfig.KeySource(kdf: kdf, salt: Random.bytes(VolumeConfig.saltBytes), scrypt: nil, kmip: kmip, pkcs11: pkcs11)
        guard let derived = VolumeCrypto.deriveKEK(secret: material, keySource: source) else {
            throw CLIError(.failure, "key derivation failed")
        }
        return (source, derived)
    }

    /// Revokes and destroys the key made for a volume (or key source) that was then not written
    /// (best effort: a warning names the key when the server refuses). Never when tdefs.conf in
    /// `backing` names the key: a write that failed after its rename (the directory's fsync) has
    /// put the key in use.
    func discardCreatedKey(unlessRecordedIn backing: String) {
        guard let server, let createdKeyID else { return }
        if let config = try? Volume.loadConfig(backingPath: backing),
           config.allSlots.contains(where: { $0.source.kmip?.keyID == createdKeyID }) { return }
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
