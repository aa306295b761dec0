/// Where plaintext extents live in a backing file (docs/format.md, "Extents").
public enum ExtentGeometry {
    public static let plainBytes = 4096
    public static let overhead = AESGCM.nonceBytes + AESGCM.tagBytes
    public static let storedBytes = plainBytes + overhead  // 4128
    public static let headerBytes = FileHeader.byteCount

    /// Backing offset of extent `index`.
    @inline(__always)
    public static func backingOffset(ofExtent index: Int64) -> Int64 {
        Int64(headerBytes) + index * Int64(storedBytes)
    }

    /// Plaintext size of a backing file of `backingSize` bytes (a damaged tail counts as nothing).
    public static func plainSize(backingSize: Int64) -> Int64 {
        if backingSize <= Int64(headerBytes) { return 0 }
        let d = backingSize - Int64(headerBytes)
        let full = d / Int64(storedBytes)
        let rem = d % Int64(storedBytes)
        return full * Int64(plainBytes) + max(0, rem - Int64(overhead))
    }

    /// Backing size that holds `plainSize` bytes (header included).
    public static func backingSize(plainSize: Int64) -> Int64 {
        if plainSize == 0 { return Int64(headerBytes) }
        let full = plainSize / Int64(plainBytes)
        let rem = plainSize % Int64(plainBytes)
        return Int64(headerBytes) + full * Int64(storedBytes) + (rem > 0 ? rem + Int64(overhead) : 0)
    }

    /// True when a backing size ends in a torn extent (1 to 32 stray bytes).
    public static func hasDamagedTail(backingSize: Int64) -> Bool {
        if backingSize <= Int64(headerBytes) { return backingSize != 0 && backingSize != Int64(headerBytes) }
        let rem = (backingSize - Int64(headerBytes)) % Int64(storedBytes)
        return rem > 0 && rem <= Int64(overhead)
    }
}
