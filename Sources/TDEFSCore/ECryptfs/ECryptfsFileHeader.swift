/// The eCryptfs file header (kernel crypto.c, ecryptfs_write_headers_virt / ecryptfs_read_headers_virt),
/// at the start of the lower file or in its user.ecryptfs xattr (ecryptfs_xattr_metadata):
///
///     0   8  plaintext file size, big-endian
///     8   4  marker m1 (random)
///     12  4  m2 = m1 XOR 0x3c81b7f5
///     16  4  flags, big-endian: version (3) in the top octet; 0x1 HMAC, 0x2 encrypted,
///            0x4 metadata in xattr, 0x8 encrypted filenames
///     20  4  header extent size, big-endian
///     24  2  number of header extents at the front, big-endian
///     26  .  packet set (tag 3 + tag 11 for a passphrase key; see ECryptfsPacketSet)
public struct ECryptfsFileHeader: Equatable, Sendable {
    public static let marker: UInt32 = 0x3c81_b7f5
    public static let packetSetOffset = 26
    public static let minimumHeaderExtentSize = 8192
    public static let flagHMAC: UInt32 = 0x1
    public static let flagEncrypted: UInt32 = 0x2
    public static let flagMetadataInXattr: UInt32 = 0x4
    public static let flagEncryptFilenames: UInt32 = 0x8
    public static let supportedVersion: UInt8 = 3

    public let size: UInt64
    public let version: UInt8
    public let flags: UInt32
    public let headerExtentSize: UInt32
    public let headerExtentCount: UInt16
    /// headerExtentSize * headerExtentCount: where the first data extent starts in the lower
    /// file (when the metadata is not in the xattr).
    public var metadataSize: Int { Int(headerExtentSize) * Int(headerExtentCount) }

    /// Parses the fixed part. `validateHeaderSize` is the kernel's check (the metadata size at
    /// least 8192) for headers in the file; headers from the xattr are not checked.
    public static func parse(_ b: [UInt8], path: String, validateHeaderSize: Bool) throws(ECryptfsError) -> ECryptfsFileHeader {
        guard b.count >= packetSetOffset else {
            throw .malformed(path: path, what: "header truncated (\(b.count) bytes, at least \(packetSetOffset) needed)")
        }
        let m1 = be32(b, 8), m2 = be32(b, 12)
        guard m1 ^ marker == m2 else { throw .malformed(path: path, what: "no eCryptfs marker in the header") }
        let raw = be32(b, 16)
        let version = UInt8(raw >> 24)
        guard version <= supportedVersion else {
            throw .unsupported(path: path, what: "file version \(version) (this reader knows up to \(supportedVersion))")
        }
        guard version >= 1 else { throw .unsupported(path: path, what: "file version 0 (pre-2.6.24 layout)") }
        let h = ECryptfsFileHeader(size: be64(b, 0), version: version, flags: raw & 0x00ff_ffff,
                                   headerExtentSize: be32(b, 20), headerExtentCount: UInt16(b[24]) << 8 | UInt16(b[25]))
        if validateHeaderSize && h.metadataSize < minimumHeaderExtentSize {
            throw .malformed(path: path, what: "header size \(h.metadataSize) below \(minimumHeaderExtentSize)")
        }
        guard h.flags & flagEncrypted != 0 else { throw .unsupported(path: path, what: "file not marked encrypted") }
        guard h.size <= UInt64(Int64.max) else { throw .malformed(path: path, what: "file size \(h.size) out of range") }
        return h
    }

    static func be32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
    }
    static func be64(_ b: [UInt8], _ o: Int) -> UInt64 { UInt64(be32(b, o)) << 32 | UInt64(be32(b, o + 4)) }
}
