/// The RFC 2440-style packet length of eCryptfs packets (kernel keystore.c,
/// ecryptfs_parse_packet_length): one octet below 192, two octets from 192 to 223
/// ((b0 - 192) * 256 + b1 + 192); anything else is refused, as the kernel does.
enum ECryptfsPacketLength {
    /// (body size, octets used) or nil.
    static func parse(_ data: ArraySlice<UInt8>) -> (size: Int, lengthSize: Int)? {
        guard let b0 = data.first else { return nil }
        if b0 < 192 { return (Int(b0), 1) }
        if b0 < 224 {
            guard data.count >= 2 else { return nil }
            return ((Int(b0) - 192) * 256 + Int(data[data.startIndex + 1]) + 192, 2)
        }
        return nil
    }
}

/// RFC 2440 cipher codes eCryptfs writes for AES (kernel crypto.c, ecryptfs_cipher_code_str_map).
public enum ECryptfsCipherCode {
    public static let aes128: UInt8 = 0x07
    public static let aes192: UInt8 = 0x08
    public static let aes256: UInt8 = 0x09

    /// The AES key length for an AES cipher code, nil for other ciphers.
    static func aesKeyBytes(_ code: UInt8) -> Int? {
        switch code {
        case aes128: return 16
        case aes192: return 24
        case aes256: return 32
        default: return nil
        }
    }
}
