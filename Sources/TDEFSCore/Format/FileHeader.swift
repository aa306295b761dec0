import CPlatform

/// The 96-byte header at the start of every regular backing file (docs/format.md).
public struct FileHeader: Sendable {
    public static let byteCount = 96
    static let magic: [UInt8] = Array("TDEF".utf8)
    static let aadBytes = 32
    static let fileKeyBytes = 32

    /// 1, or 2 (no holes, the end of file bound: docs/format.md, "Format version 2").
    public var version: UInt8 = 2
    /// The version new files and `rotate --reencrypt` write.
    public static let newestVersion: UInt8 = 2
    public var size: AESKeySize
    public var epoch: UInt32
    public var fileID: [UInt8]
    /// Bytes 32..<96: wrap nonce, wrapped file key, wrap tag.
    public var wrapped: [UInt8]

    /// A header for a new file with a fresh random file key wrapped under `keys`.
    public static func create(keys: EpochKeys, version: UInt8 = 2) -> (FileHeader, SecureBytes) {
        let fileKey = SecureBytes.random(count: fileKeyBytes)
        var h = FileHeader(size: keys.size, epoch: keys.epoch, fileID: Random.bytes(16), wrapped: [])
        h.version = version
        h.wrap(fileKey: fileKey, keys: keys)
        return (h, fileKey)
    }

    /// Contexts for wrapping and unwrapping file keys, shared by every header in the process: a
    /// create or a first open re-keys a pooled context instead of setting up a new one.
    static let wrapContexts = GCMPool()

    /// Wraps (or re-wraps, for rotation) the file key under an epoch's header-wrap key.
    public mutating func wrap(fileKey: SecureBytes, keys: EpochKeys) {
        epoch = keys.epoch
        let aad = prefixBytes
        var box = [UInt8](repeating: 0, count: AESGCM.nonceBytes + Self.fileKeyBytes + AESGCM.tagBytes)
        let ok = Self.wrapContexts.withContext(key: keys.headerWrap, size: keys.size) { gcm in
            box.withUnsafeMutableBytes { o in
                Random.fill(UnsafeMutableRawBufferPointer(rebasing: o[0..<AESGCM.nonceBytes]))
                return fileKey.withUnsafeBytes { k in
                    aad.withUnsafeBytes { a in
                        gcm.seal(nonce: UnsafeRawBufferPointer(rebasing: o[0..<AESGCM.nonceBytes]), aad: a, plaintext: k,
                                 ciphertext: o.baseAddress! + AESGCM.nonceBytes,
                                 tag: o.baseAddress! + AESGCM.nonceBytes + Self.fileKeyBytes)
                    }
                }
            }
        }
        precondition(ok, "AES-GCM seal failed")
        wrapped = box
    }

    /// The file key, or nil when the wrap does not authenticate under `keys`. The key is opened
    /// straight into locked memory.
    public func unwrap(keys: EpochKeys) -> SecureBytes? {
        guard keys.epoch == epoch, wrapped.count == AESGCM.nonceBytes + Self.fileKeyBytes + AESGCM.tagBytes else { return nil }
        let key = SecureBytes(count: Self.fileKeyBytes)
        let aad = prefixBytes
        let ok = Self.wrapContexts.withContext(key: keys.headerWrap, size: keys.size) { gcm in
            wrapped.withUnsafeBytes { b in
                aad.withUnsafeBytes { a in
                    key.withUnsafeMutableBytes { k in
                        gcm.open(nonce: UnsafeRawBufferPointer(rebasing: b[0..<AESGCM.nonceBytes]), aad: a,
                                 ciphertext: UnsafeRawBufferPointer(rebasing: b[AESGCM.nonceBytes..<(AESGCM.nonceBytes + Self.fileKeyBytes)]),
                                 tag: UnsafeRawBufferPointer(rebasing: b[(AESGCM.nonceBytes + Self.fileKeyBytes)...]),
                                 plaintext: k.baseAddress!)
                    }
                }
            }
        }
        return ok ? key : nil
    }

    /// Bytes 0..<32, the wrap's associated data.
    var prefixBytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.aadBytes)
        b.replaceSubrange(0..<4, with: Self.magic)
        b[5] = version  // big-endian u16
        b[6] = size.rawValue
        b.replaceSubrange(8..<12, with: BigEndian.bytes32(epoch))
        b.replaceSubrange(12..<28, with: fileID)
        return b
    }

    public var bytes: [UInt8] { prefixBytes + wrapped }

    /// nil for anything that is not a well-formed version-1 or version-2 header.
    public init?(parsing b: UnsafeRawBufferPointer) {
        guard b.count >= Self.byteCount, Array(b[0..<4]) == Self.magic, b[4] == 0, b[5] == 1 || b[5] == 2,
              let size = AESKeySize(rawValue: b[6]), b[7] == 0,
              b[28] == 0, b[29] == 0, b[30] == 0, b[31] == 0 else { return nil }
        version = b[5]
        self.size = size
        epoch = b[8..<12].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
        fileID = Array(b[12..<28])
        wrapped = Array(b[32..<96])
    }

    public init?(parsing b: [UInt8]) {
        guard let h = b.withUnsafeBytes({ FileHeader(parsing: $0) }) else { return nil }
        self = h
    }

    init(version: UInt8 = 2, size: AESKeySize, epoch: UInt32, fileID: [UInt8], wrapped: [UInt8]) {
        self.version = version; self.size = size; self.epoch = epoch; self.fileID = fileID; self.wrapped = wrapped
    }
}
