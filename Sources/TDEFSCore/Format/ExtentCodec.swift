/// Sealing and opening one stored extent of a file (docs/format.md, "Extents" and "Format version
/// 2"): nonce (16) | ciphertext | tag (16) under the file key, AAD file ID | index (| flags in v2).
/// The rules of both versions live here, and only here: v1 reads an all-zero extent as a hole; v2
/// has no holes and wants the extent that ends the file to carry the final flag (bit 0 of the
/// first nonce byte, which GCM authenticates). No I/O: the engine and fsck both call this.
struct ExtentCodec {
    static let nonceBytes = AESGCM.nonceBytes
    static let tagBytes = AESGCM.tagBytes
    static let finalBit: UInt8 = 1

    /// The file's 16-byte ID (from its header) and the format version its extents follow.
    let fileID: [UInt8]
    let version: UInt8

    var hasHoles: Bool { version < 2 }

    /// What an extent that opens is.
    enum Opened {
        /// A v1 hole: `plainLength` zero bytes were written out.
        case hole
        /// Authenticated data; `final` is its v2 final flag (false in v1).
        case data(final: Bool)
        var isFinalV2: Bool { if case .data(let f) = self { return f } else { return false } }
    }

    /// Opens `stored` (exactly plainLength + 32 bytes) into `out`; nil when it does not open by
    /// these rules under `gcm`'s key. `atEnd`: the extent ends the file.
    func open(extent j: Int64, stored: UnsafeRawBufferPointer, plainLength: Int, atEnd: Bool,
              into out: UnsafeMutableRawPointer, gcm: AESGCM) -> Opened? {
        guard stored.count == plainLength + ExtentGeometry.overhead else { return nil }
        let final = stored[0] & Self.finalBit != 0
        if hasHoles {
            if Self.isAllZero(stored) {
                out.initializeMemory(as: UInt8.self, repeating: 0, count: plainLength)
                return .hole
            }
        } else if atEnd && !final {
            return nil  // the file was cut at an extent boundary
        }
        let ok = withAAD(extent: j, final: final) { aad in
            gcm.open(nonce: UnsafeRawBufferPointer(rebasing: stored[0..<Self.nonceBytes]), aad: aad,
                     ciphertext: UnsafeRawBufferPointer(rebasing: stored[Self.nonceBytes..<(Self.nonceBytes + plainLength)]),
                     tag: UnsafeRawBufferPointer(rebasing: stored[(Self.nonceBytes + plainLength)...]), plaintext: out)
        }
        return ok ? .data(final: hasHoles ? false : final) : nil
    }

    /// Seals `plain` into `slot`, whose first 16 bytes already hold a fresh random nonce; in v2 the
    /// nonce's final bit is set to `final` first (127 random bits remain). false on a cipher error.
    func seal(extent j: Int64, plain: UnsafeRawBufferPointer, final: Bool, slot: UnsafeMutableRawPointer, gcm: AESGCM) -> Bool {
        if !hasHoles {
            let b = slot.load(as: UInt8.self) & ~Self.finalBit
            slot.storeBytes(of: final ? b | Self.finalBit : b, as: UInt8.self)
        }
        return withAAD(extent: j, final: final) { aad in
            gcm.seal(nonce: UnsafeRawBufferPointer(start: slot, count: Self.nonceBytes), aad: aad, plaintext: plain,
                     ciphertext: slot + Self.nonceBytes, tag: slot + Self.nonceBytes + plain.count)
        }
    }

    /// Why an extent that opened under none of its keys is damage, in the words of logs and fsck.
    func failure(stored: UnsafeRawBufferPointer, plainLength: Int, atEnd: Bool) -> String {
        guard stored.count == plainLength + ExtentGeometry.overhead else { return "is truncated" }
        if !hasHoles {
            if Self.isAllZero(stored) { return "is all zeros (zeroed or punched out)" }
            if atEnd && stored[0] & Self.finalBit == 0 {
                return "ends the file but is not final (the file was cut at an extent boundary)"
            }
        }
        return "fails authentication"
    }

    /// v1: file ID (16) | index (u64). v2 adds a flags byte (bit 0: final, other bits zero).
    @inline(__always)
    func withAAD<R>(extent j: Int64, final: Bool, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: 25, alignment: 8) { a in
            fileID.withUnsafeBytes { a.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 16) }
            BigEndian.put64(UInt64(j), a.baseAddress!, 16)
            a[24] = final ? 1 : 0
            return body(UnsafeRawBufferPointer(rebasing: a[0..<(hasHoles ? 24 : 25)]))
        }
    }

    static func isAllZero(_ b: UnsafeRawBufferPointer) -> Bool {
        guard let p = b.baseAddress else { return true }
        var acc: UInt64 = 0
        let words = b.count / 8
        for i in 0..<words { acc |= p.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
        for i in (words * 8)..<b.count { acc |= UInt64(b[i]) }
        return acc == 0
    }
}
