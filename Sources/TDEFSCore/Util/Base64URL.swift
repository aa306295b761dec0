/// Unpadded base64url (RFC 4648 section 5): the alphabet of backing names. It never yields '.',
/// which is what keeps tdefs' reserved backing names ("tdefs.*") apart from users' names.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let reverse: [Int8] = {
        var t = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = Int8(i) }
        return t
    }()

    public static func encode<C: Collection>(_ data: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity((data.count * 4 + 2) / 3)
        var it = data.makeIterator()
        while let a = it.next() {
            let b = it.next(), c = it.next()
            let n = (UInt32(a) << 16) | (UInt32(b ?? 0) << 8) | UInt32(c ?? 0)
            out.append(alphabet[Int((n >> 18) & 63)])
            out.append(alphabet[Int((n >> 12) & 63)])
            if b != nil { out.append(alphabet[Int((n >> 6) & 63)]) }
            if c != nil { out.append(alphabet[Int(n & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil for characters outside the alphabet, padding, or an impossible length.
    public static func decode<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        if text.count % 4 == 1 { return nil }
        var out = [UInt8]()
        out.reserveCapacity(text.count * 3 / 4)
        var acc: UInt32 = 0, bits = 0
        for ch in text {
            let v = reverse[Int(ch)]
            if v < 0 { return nil }
            acc = (acc << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
            }
        }
        // Leftover bits must be zero, so that every byte string has exactly one encoding.
        if bits > 0 && (acc & ((1 << UInt32(bits)) - 1)) != 0 { return nil }
        return out
    }

    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }
}
