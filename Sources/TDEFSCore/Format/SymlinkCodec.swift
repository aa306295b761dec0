/// Symlink targets: base64url(epoch | nonce | ciphertext | tag) under the epoch's symlink key.
public enum SymlinkCodec {
    public static let maxBackingTargetBytes = 4095
    public static let maxTargetBytes = 3035

    public static func encrypt(_ target: [UInt8], keys: EpochKeys) throws(Errno) -> String {
        if target.count > maxTargetBytes { throw Errno.ENAMETOOLONG }
        if target.isEmpty { throw Errno(2) /* ENOENT, as symlink(2) for an empty target */ }
        let gcm = AESGCM()
        gcm.setKey(keys.symlink, size: keys.size)
        let epochBytes = BigEndian.bytes32(keys.epoch)
        return Base64URL.encode(epochBytes + gcm.sealBox(target, aad: epochBytes))
    }

    /// The plaintext target, or nil when malformed, of an unknown epoch, or not authentic.
    public static func decrypt(_ stored: [UInt8], keyring: Keyring) -> [UInt8]? {
        guard let blob = Base64URL.decode(stored), blob.count >= 4 + ExtentGeometry.overhead + 1 else { return nil }
        let epoch = blob[0..<4].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
        guard let keys = keyring.epoch(epoch) else { return nil }
        let gcm = AESGCM()
        gcm.setKey(keys.symlink, size: keys.size)
        return gcm.openBox(Array(blob[4...]), aad: Array(blob[0..<4]))
    }
}
