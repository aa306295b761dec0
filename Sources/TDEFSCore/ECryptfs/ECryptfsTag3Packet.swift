/// Tag 3 packet, the passphrase-encrypted session key (kernel keystore.c, parse_tag_3_packet /
/// write_tag_3_packet):
///
///     0x8C, length (1-2 octets), body:
///     version 0x04, cipher code (0x07/0x08/0x09 AES-128/192/256), S2K id 0x03, hash id 0x01,
///     salt (8), iteration count (1 octet, RFC 2440 coded: (16 + (c & 15)) << ((c >> 4) + 6)),
///     encrypted key (body size - 13 octets)
///
/// The key size is 24 for cipher code 0x08 and the encrypted key's size otherwise (the kernel pads
/// a 24-byte FEK to 32 bytes before wrapping it).
public struct ECryptfsTag3Packet: Equatable, Sendable {
    public static let type: UInt8 = 0x8C
    public let cipherCode: UInt8
    public let keyBytes: Int
    public let salt: [UInt8]
    public let hashIterations: Int
    /// The wrapped FEK (not secret: it is encrypted under the FEKEK).
    public let encryptedKey: [UInt8]
    /// Octets the packet occupies, tag and length included.
    public let packetSize: Int

    public static func parse(_ d: ArraySlice<UInt8>, path: String) throws(ECryptfsError) -> ECryptfsTag3Packet {
        let s = d.startIndex
        guard d.count >= 2, d[s] == type else { throw .malformed(path: path, what: "tag 3 packet expected") }
        guard let (body, ls) = ECryptfsPacketLength.parse(d[(s + 1)...]) else {
            throw .malformed(path: path, what: "tag 3 packet length unreadable")
        }
        guard body >= 8 + 5 + 1 else { throw .malformed(path: path, what: "tag 3 packet body too short (\(body))") }
        guard 1 + ls + body <= d.count else { throw .malformed(path: path, what: "tag 3 packet truncated") }
        var p = s + 1 + ls
        guard d[p] == 0x04 else { throw .unsupported(path: path, what: "tag 3 packet version \(d[p])") }
        p += 1
        let code = d[p]; p += 1
        guard ECryptfsCipherCode.aesKeyBytes(code) != nil else {
            throw .unsupported(path: path, what: "cipher code 0x\(String(code, radix: 16)) (only AES is read)")
        }
        guard d[p] == 0x03 else { throw .unsupported(path: path, what: "S2K id \(d[p]) (only 3)") }
        p += 1
        guard d[p] == 0x01 else { throw .unsupported(path: path, what: "S2K hash id \(d[p])") }
        p += 1
        let salt = Array(d[p..<(p + 8)]); p += 8
        let c = Int(d[p]); p += 1
        let iterations = (16 + (c & 15)) << ((c >> 4) + 6)
        let encSize = body - 13
        let key = Array(d[p..<(p + encSize)])
        let keyBytes = code == ECryptfsCipherCode.aes192 ? 24 : encSize
        guard [16, 24, 32].contains(keyBytes), encSize % 16 == 0, encSize >= keyBytes, encSize <= 32 else {
            throw .malformed(path: path, what: "tag 3 encrypted key of \(encSize) bytes for cipher code 0x\(String(code, radix: 16))")
        }
        return ECryptfsTag3Packet(cipherCode: code, keyBytes: keyBytes, salt: salt, hashIterations: iterations,
                                  encryptedKey: key, packetSize: 1 + ls + body)
    }
}
