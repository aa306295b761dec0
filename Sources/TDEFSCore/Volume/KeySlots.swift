import CPlatform

/// Key slots, as LUKS2 has them (docs/format.md, "Key slots"): a volume opened by more than one key
/// source. Every slot but an old volume's only one wraps the volume's KEK under the key its source
/// derives: AES-256-GCM, a 16-byte random nonce, AAD "tdefs-slot-v1" | volumeID. A source without
/// `wrappedKEK` derives the KEK itself (every volume that never had a second slot).
public enum KeySlots {
    static let aadLabel = Array("tdefs-slot-v1".utf8)

    /// nonce (16) | AES-256-GCM(slot key, KEK) (32) | tag (16).
    public static func wrap(kek: SecureBytes, slotKey: SecureBytes, volumeID: [UInt8]) -> [UInt8] {
        let gcm = AESGCM()
        gcm.setKey(slotKey, size: .aes256)
        var plain = kek.withUnsafeBytes { Array($0) }
        defer { plain.withUnsafeMutableBytes { tdefs_explicit_bzero($0.baseAddress, $0.count) } }
        return gcm.sealBox(plain, aad: aadLabel + volumeID)
    }

    /// The KEK that `material` (the input of `source`'s KDF) opens through this slot; nil when it
    /// does not open (another slot's secret, a wrong key, a damaged record).
    public static func kek(of source: VolumeConfig.KeySource, material: SecureBytes, volumeID: [UInt8]) -> SecureBytes? {
        guard let derived = VolumeCrypto.deriveKEK(secret: material, keySource: source) else { return nil }
        guard let wrapped = source.wrappedKEK else { return derived }
        guard wrapped.count == VolumeConfig.wrappedKeyBytes else { return nil }
        let gcm = AESGCM()
        gcm.setKey(derived, size: .aes256)
        guard var plain = gcm.openBox(wrapped, aad: aadLabel + volumeID) else { return nil }
        defer { plain.withUnsafeMutableBytes { tdefs_explicit_bzero($0.baseAddress, $0.count) } }
        guard plain.count == VolumeCrypto.kekBytes else { return nil }
        return SecureBytes(copying: plain)
    }

    /// `source` with a fresh wrap of `kek` under the key `material` derives for it.
    public static func wrapped(_ source: VolumeConfig.KeySource, material: SecureBytes, kek: SecureBytes,
                               volumeID: [UInt8]) -> VolumeConfig.KeySource? {
        var plain = source
        plain.wrappedKEK = nil
        guard let slotKey = VolumeCrypto.deriveKEK(secret: material, keySource: plain) else { return nil }
        plain.wrappedKEK = wrap(kek: kek, slotKey: slotKey, volumeID: volumeID)
        return plain
    }
}
