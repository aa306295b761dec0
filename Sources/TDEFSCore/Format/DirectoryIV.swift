import Glibc

/// The `tdefs.diriv` file of every backing directory (docs/format.md, "Directory IVs").
/// Version 1 (28 bytes): magic, version, epoch, IV. Version 2 (44 bytes, format 3 volumes) adds a
/// 16-byte tag: the AES-SIV synthetic IV (S2V, used as a MAC) of the first 28 bytes under the
/// epoch's diriv-mac key, so an IV or epoch that tdefs did not write is refused.
public struct DirectoryIV: Equatable, Sendable {
    public static let fileName = "tdefs.diriv"
    /// The next IV while a directory's names are re-encrypted (rotate --reencrypt).
    public static let nextFileName = "tdefs.diriv.next"
    /// Length of the fields the tag covers, which is all of a version-1 file.
    public static let fieldsByteCount = 28
    public static let tagByteCount = AESSIV.tagBytes
    static let magic: [UInt8] = Array("TDDI".utf8)

    public var version: UInt8
    public var epoch: UInt32
    public var iv: [UInt8]
    /// Version 2's tag; empty in version 1.
    public var tag: [UInt8]

    /// A version-1 IV (unauthenticated).
    public init(epoch: UInt32, iv: [UInt8]) {
        precondition(iv.count == 16)
        self.version = 1
        self.epoch = epoch
        self.iv = iv
        self.tag = []
    }

    /// A new random IV of `keys`' epoch in file version `version` (see FormatVersions).
    public static func random(keys: EpochKeys, version: UInt8) -> DirectoryIV {
        let made = DirectoryIV(epoch: keys.epoch, iv: Random.bytes(16))
        return version >= 2 ? made.authenticated(keys: keys) : made
    }

    /// The same epoch and IV as a version-2 file, tagged under `keys` (of the same epoch).
    public func authenticated(keys: EpochKeys) -> DirectoryIV {
        precondition(keys.epoch == epoch)
        var made = self
        made.version = 2
        made.tag = made.expectedTag(keys: keys)
        return made
    }

    /// magic | version | 3 zero bytes | epoch | IV.
    var fields: [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.fieldsByteCount)
        b.replaceSubrange(0..<4, with: Self.magic)
        b[4] = version
        b.replaceSubrange(8..<12, with: BigEndian.bytes32(epoch))
        b.replaceSubrange(12..<28, with: iv)
        return b
    }

    public var bytes: [UInt8] { fields + tag }

    /// AES-SIV's synthetic IV of the fields (S2V, a CMAC-based PRF); the ciphertext is not kept.
    func expectedTag(keys: EpochKeys) -> [UInt8] {
        Array(fields.withUnsafeBytes { keys.directoryIVMAC.seal(associatedData: [], plaintext: $0) }.prefix(Self.tagByteCount))
    }

    /// Whether a version-2 IV's tag verifies under its epoch's keys (a version-1 IV has none).
    public func isAuthentic(keys: EpochKeys) -> Bool {
        guard version >= 2, keys.epoch == epoch, tag.count == Self.tagByteCount else { return false }
        let expected = expectedTag(keys: keys)
        return zip(expected, tag).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0  // in constant time
    }

    /// Whether the engine and fsck may use this IV as a directory's `tdefs.diriv` in a volume of
    /// `formatVersion`: a version-2 IV when its tag verifies; a version-1 IV in volumes of format 1
    /// and 2, and in a format 3 volume only while a `rotate --reencrypt` is recorded (towards
    /// `reencryptTarget`), which gives every directory a version-2 IV. (A directory made, or moved
    /// by an older release, under the target epoch before the volume became format 3 still has a
    /// version-1 IV then.)
    public func isAcceptable(keys: EpochKeys, formatVersion: Int, reencryptTarget: UInt32?) -> Bool {
        if version >= 2 { return isAuthentic(keys: keys) }
        return FormatVersions.directoryIV(forVolume: formatVersion) < 2 || reencryptTarget != nil
    }

    /// Whether this IV may be used as a directory's `tdefs.diriv.next`: only while a re-encryption
    /// towards its epoch is recorded, and, in version 2, when its tag verifies (a version-1 one is
    /// what an older release's interrupted re-encryption left).
    public func isAcceptableAsNext(keys: EpochKeys, reencryptTarget: UInt32?) -> Bool {
        guard let reencryptTarget, reencryptTarget == epoch else { return false }
        return version < 2 || isAuthentic(keys: keys)
    }

    /// nil when the bytes are neither a version-1 nor a version-2 IV file (the tag is not checked).
    public init?(parsing b: [UInt8]) {
        guard b.count >= Self.fieldsByteCount, Array(b[0..<4]) == Self.magic,
              b[5] == 0, b[6] == 0, b[7] == 0 else { return nil }
        switch b[4] {
        case 1: guard b.count == Self.fieldsByteCount else { return nil }
        case 2: guard b.count == Self.fieldsByteCount + Self.tagByteCount else { return nil }
        default: return nil
        }
        version = b[4]
        epoch = b[8..<12].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
        iv = Array(b[12..<28])
        tag = Array(b[28...])
    }

    /// Reads the IV file in a backing directory. ENOENT when missing, EIO when malformed or not a
    /// regular file (see BackingFile). The tag is checked by the caller (isAcceptable), which has
    /// the keys.
    public static func read(directoryFD: Int32, name: String = fileName) throws(Errno) -> DirectoryIV {
        let fd = try BackingFile.open(name, in: directoryFD)
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: fieldsByteCount + tagByteCount + 1)
        let n = try sys { buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) } }
        guard let iv = DirectoryIV(parsing: Array(buf[0..<n])) else { throw Errno.EIO }
        return iv
    }

    /// Writes and fsyncs a new IV file (O_EXCL) in a backing directory, mode 0400.
    public func write(directoryFD: Int32, name: String = fileName) throws(Errno) {
        let fd = try sys { openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o400) }
        defer { close(fd) }
        let b = bytes
        let n = try sys { b.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        guard n == b.count else { throw Errno.EIO }
        _ = try sys { fsync(fd) }
    }
}
