/// How key files, passphrase files and key-command output become secrets (docs/format.md, tdefs.conf).
public enum KeyText {
    /// Least bytes of a key.
    public static let minimumKeyBytes = 32

    /// The bytes before the first line end ("\n" or "\r\n").
    public static func firstLine(_ b: UnsafeRawBufferPointer) -> Range<Int> {
        var end = b.firstIndex(of: 0x0A) ?? b.count
        if end > 0 && b[end - 1] == 0x0D { end -= 1 }
        return 0..<end
    }

    /// Everything but one trailing line end ("\n" or "\r\n").
    public static func withoutTrailingNewline(_ b: UnsafeRawBufferPointer) -> Range<Int> {
        var end = b.count
        if end > 0 && b[end - 1] == 0x0A {
            end -= 1
            if end > 0 && b[end - 1] == 0x0D { end -= 1 }
        }
        return 0..<end
    }

    /// A key from a key file's content: one line of base64 (standard or url alphabet, padding
    /// optional) decoding to ≥ 32 bytes, or else the raw bytes when there are ≥ 32 of them.
    /// A single base64-looking line that decodes to fewer than 32 bytes is refused, not taken raw.
    public static func key(from b: UnsafeRawBufferPointer, what: String) throws(KeySourceError) -> SecureBytes {
        let line = withoutTrailingNewline(b)
        if let decoded = decodeBase64(UnsafeRawBufferPointer(rebasing: b[line])) {
            guard decoded.count >= minimumKeyBytes else { throw .notAKey(what: what) }
            return decoded
        }
        guard b.count >= minimumKeyBytes else { throw .notAKey(what: what) }
        let s = SecureBytes(count: b.count)
        s.withUnsafeMutableBytes { $0.copyMemory(from: b) }
        return s
    }

    /// Decodes base64 in either alphabet, with or without '=' padding; nil when `text` is not
    /// exactly that (any other character, a line break, or an impossible length).
    static func decodeBase64(_ text: UnsafeRawBufferPointer) -> SecureBytes? {
        var n = text.count
        var pad = 0
        while n > 0 && text[n - 1] == UInt8(ascii: "=") && pad < 2 { n -= 1; pad += 1 }
        guard n > 0, n % 4 != 1 else { return nil }
        if pad > 0 && (n + pad) % 4 != 0 { return nil }
        func value(_ c: UInt8) -> UInt32? {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"), UInt8(ascii: "-"): return 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): return 63
            default: return nil
            }
        }
        for i in 0..<n where value(text[i]) == nil { return nil }
        let out = SecureBytes(count: n * 6 / 8)
        out.withUnsafeMutableBytes { o in
            var acc: UInt32 = 0, bits = 0, j = 0
            for i in 0..<n {
                acc = (acc << 6) | value(text[i])!
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    o[j] = UInt8((acc >> UInt32(bits)) & 0xFF)
                    j += 1
                }
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        return out
    }
}
