import CPlatform

/// The key hierarchy of tdefs.conf: secret -> key-encryption key (KEK) -> wrapped epoch master keys.
public enum VolumeCrypto {
    public static let masterKeyBytes = 32
    public static let kekBytes = 32
    static let kekInfo = "tdefs v1 kek"
    /// Records of a tdefs.conf written before it was authenticated, and records of a sealed one
    /// (VolumeConfigSeal): every record tdefs writes now has the second label.
    static let legacyAADLabel = Array("tdefs-conf-v1".utf8)
    static let sealedAADLabel = Array("tdefs-conf-v2".utf8)

    /// The KEK: scrypt(secret, salt, n, r, p, 32) or HKDF-SHA256(secret, salt, "tdefs v1 kek", 32)
    /// (hkdf-sha256, and kmip, whose secret is the data key the server gave back).
    /// nil when scrypt refuses its parameters.
    public static func deriveKEK(secret: SecureBytes, keySource: VolumeConfig.KeySource) -> SecureBytes? {
        switch keySource.kdf {
        case .scrypt:
            guard let params = keySource.scrypt, VolumeConfig.scryptProblem(params) == nil else { return nil }
            return KDF.scrypt(passphrase: secret, salt: keySource.salt, parameters: params, length: kekBytes)
        case .hkdfSHA256, .kmip, .pkcs11:
            return KDF.hkdfSHA256(key: secret, salt: keySource.salt, info: kekInfo, length: kekBytes)
        }
    }

    /// "tdefs-conf-v2" (or, legacy, "tdefs-conf-v1") | volumeID (16) | epoch (u32 BE) | cipher id (u8).
    public static func wrapAAD(volumeID: [UInt8], epoch: UInt32, cipher: AESKeySize, sealed: Bool = true) -> [UInt8] {
        (sealed ? sealedAADLabel : legacyAADLabel) + volumeID + BigEndian.bytes32(epoch) + [cipher.rawValue]
    }

    /// nonce (16) | AES-256-GCM(KEK, master key) (32) | tag (16).
    public static func wrap(masterKey: SecureBytes, kek: SecureBytes, volumeID: [UInt8], epoch: UInt32,
                            cipher: AESKeySize) -> [UInt8] {
        precondition(masterKey.count == masterKeyBytes && kek.count == kekBytes)
        let gcm = AESGCM()
        gcm.setKey(kek, size: .aes256)
        var plain = masterKey.withUnsafeBytes { Array($0) }
        defer { plain.withUnsafeMutableBytes { tdefs_explicit_bzero($0.baseAddress, $0.count) } }
        return gcm.sealBox(plain, aad: wrapAAD(volumeID: volumeID, epoch: epoch, cipher: cipher))
    }

    /// The master key, or nil when the tag does not verify (wrong KEK, or a damaged record).
    public static func unwrap(_ wrapped: [UInt8], kek: SecureBytes, volumeID: [UInt8], epoch: UInt32,
                              cipher: AESKeySize) -> SecureBytes? {
        unwrapRecord(wrapped, kek: kek, volumeID: volumeID, epoch: epoch, cipher: cipher)?.key
    }

    /// The master key and whether the record is a sealed configuration's (label "tdefs-conf-v2").
    public static func unwrapRecord(_ wrapped: [UInt8], kek: SecureBytes, volumeID: [UInt8], epoch: UInt32,
                                    cipher: AESKeySize) -> (key: SecureBytes, sealed: Bool)? {
        guard wrapped.count == VolumeConfig.wrappedKeyBytes, kek.count == kekBytes else { return nil }
        let gcm = AESGCM()
        gcm.setKey(kek, size: .aes256)
        for sealed in [true, false] {
            guard var plain = gcm.openBox(wrapped, aad: wrapAAD(volumeID: volumeID, epoch: epoch, cipher: cipher, sealed: sealed))
            else { continue }
            defer { plain.withUnsafeMutableBytes { tdefs_explicit_bzero($0.baseAddress, $0.count) } }
            return (SecureBytes(copying: plain), sealed)
        }
        return nil
    }
}
