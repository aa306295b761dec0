/// Symlink targets (docs/format.md, "Symlinks"): the stored target is
/// base64url(epoch | nonce | ciphertext | tag) under the epoch's symlink key. It is kept in the
/// backing symlink itself when it fits the backing's 4095-byte limit; otherwise in the side file
/// `tdefs.target.<hash>` at the volume's root, and the backing symlink holds that name.
public enum SymlinkCodec {
    /// A backing symlink's target holds at most this many bytes (PATH_MAX - 1 on Linux).
    public static let maxBackingTargetBytes = 4095
    /// The longest plaintext target a symlink can have (PATH_MAX - 1, as on ext4).
    public static let maxTargetBytes = 4095
    /// The longest plaintext target whose stored form fits in the backing symlink itself.
    public static let maxInlineTargetBytes = 3035
    /// Side files of long targets: `tdefs.target.` + base64url(SHA-256(stored target)).
    public static let sideFilePrefix = "tdefs.target."
    /// Length of a side file's name (and so of a backing symlink that refers to one).
    public static let sideFileNameBytes = sideFilePrefix.utf8.count + 43

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

    /// The key epoch named in the first 4 bytes of a stored target, read without a key.
    public static func epoch(ofStored stored: [UInt8]) -> UInt32? {
        guard stored.count >= 8, let head = Base64URL.decode(stored[0..<8]), head.count >= 4 else { return nil }
        return head[0..<4].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
    }

    /// Whether a stored target fits in the backing symlink itself.
    public static func fitsInline(_ stored: String) -> Bool { stored.utf8.count <= maxBackingTargetBytes }

    /// The name of the side file that holds `stored` (a target too long for the backing symlink).
    public static func sideFileName(forStored stored: [UInt8]) -> String {
        sideFilePrefix + Base64URL.encode(KDF.sha256(stored))
    }

    /// Whether a backing name or a backing symlink's target is a side file's name:
    /// `tdefs.target.` and 43 base64url characters. Stored targets are base64url and never contain
    /// `.`, so the two forms cannot be mistaken for each other.
    public static func isSideFileName<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        guard bytes.count == sideFileNameBytes, bytes.starts(with: sideFilePrefix.utf8) else { return false }
        return !bytes.dropFirst(sideFilePrefix.utf8.count).contains(UInt8(ascii: "."))
    }

    /// Checks that a side file's content is the stored target its name was made from.
    public static func sideFileMatches(name: String, content: [UInt8]) -> Bool {
        sideFileName(forStored: content) == name
    }
}
