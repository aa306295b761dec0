/// eCryptfs's own base64 for lower names (kernel crypto.c, portable_filename_chars,
/// ecryptfs_encode_for_filename / ecryptfs_decode_from_filename): the alphabet
/// "-.0-9A-Za-z" in that order, 3 octets to 4 characters, no padding characters (the encoder
/// pads the input with zero octets to a multiple of 3; the decoder keeps only whole octets).
public enum ECryptfsFilenameEncoding {
    public static let prefix = Array("ECRYPTFS_FNEK_ENCRYPTED.".utf8)
    static let alphabet = Array("-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    static let reverse: [Int16] = {
        var r = [Int16](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { r[Int(c)] = Int16(i) }
        return r
    }()

    /// Decodes; nil when a character is outside the alphabet (the kernel maps such characters
    /// to 0, which then fails the tag 70 parse; refusing here gives the same outcome).
    public static func decode(_ s: some Collection<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.count * 3 / 4)
        var acc: UInt32 = 0, bits = 0
        for c in s {
            let v = reverse[Int(c)]
            guard v >= 0 else { return nil }
            acc = (acc << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xff))
            }
        }
        return out
    }

    /// Encodes as the kernel does (for tests and tools).
    public static func encode(_ b: [UInt8]) -> [UInt8] {
        var src = b
        while src.count % 3 != 0 { src.append(0) }
        var out: [UInt8] = []
        var i = 0
        while i < src.count {
            let a = src[i], b1 = src[i + 1], c = src[i + 2]
            out.append(alphabet[Int(a >> 2)])
            out.append(alphabet[Int((a & 3) << 4 | b1 >> 4)])
            out.append(alphabet[Int((b1 & 0xf) << 2 | c >> 6)])
            out.append(alphabet[Int(c & 0x3f)])
            i += 3
        }
        return out
    }

    /// True when `name` carries the FNEK prefix and something after it.
    public static func isEncrypted(_ name: [UInt8]) -> Bool {
        name.count > prefix.count && name.starts(with: prefix)
    }
}
