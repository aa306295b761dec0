/// Tag 70 packet, an FNEK-encrypted file name (kernel keystore.c, parse_tag_70_packet /
/// write_tag_70_packet), found base64-decoded (ECryptfsFilenameEncoding) after the
/// ECRYPTFS_FNEK_ENCRYPTED. prefix of a lower name or symlink target:
///
///     0x46, length (1-2 octets), FNEK signature (8), cipher code (1),
///     block-aligned encrypted name (length - 9 octets): at least 16 non-zero prefix octets, 0x00,
///     the name (the prefix is not random: the kernel derives it from MD5 of the FNEK alone, so a
///     name always encrypts to the same lower name under one FNEK)
///
/// The kernel decrypts the name with the cipher in ECB mode (the key tfms it allocates are
/// "ecb(aes)"; the zero IV it passes is unused) under the first key-size octets of the FNEK's
/// session_key_encryption_key.
public struct ECryptfsTag70Packet: Equatable, Sendable {
    public static let type: UInt8 = 0x46
    public static let minimumSize = 1 + 1 + 8 + 1 + 16
    public let signature: String
    public let cipherCode: UInt8
    public let encryptedName: [UInt8]

    public static func parse(_ d: [UInt8], path: String) throws(ECryptfsError) -> ECryptfsTag70Packet {
        guard d.count >= minimumSize else { throw .malformed(path: path, what: "tag 70 packet too short (\(d.count) bytes)") }
        guard d[0] == type else { throw .malformed(path: path, what: "tag 70 packet expected in the encrypted name") }
        guard let (body, ls) = ECryptfsPacketLength.parse(d[1...]) else {
            throw .malformed(path: path, what: "tag 70 packet length unreadable")
        }
        guard body > 9, 1 + ls + body <= d.count else { throw .malformed(path: path, what: "tag 70 packet length \(body) out of range") }
        let p = 1 + ls
        let sig = ECryptfsCrypto.hex(d[p..<(p + 8)])
        let code = d[p + 8]
        guard ECryptfsCipherCode.aesKeyBytes(code) != nil else {
            throw .unsupported(path: path, what: "name cipher code 0x\(String(code, radix: 16))")
        }
        let enc = Array(d[(p + 9)..<(p + body)])
        guard enc.count % 16 == 0 else { throw .malformed(path: path, what: "tag 70 encrypted name not block-aligned") }
        return ECryptfsTag70Packet(signature: sig, cipherCode: code, encryptedName: enc)
    }

    /// Decrypts with the FNEK (its session_key_encryption_key, 64 bytes); nil when no separator
    /// or an empty name follows (the kernel's "could not find valid separator").
    func decrypt(fnek: SecureBytes) -> [UInt8]? {
        let kb = ECryptfsCipherCode.aesKeyBytes(cipherCode)!
        let plain = SecureBytes(count: encryptedName.count)
        let ok = fnek.withUnsafeBytes { k in
            plain.withUnsafeMutableBytes { out in
                encryptedName.withUnsafeBytes { inp in
                    ECryptfsCrypto.aesDecrypt(mode: .ecb, key: UnsafeRawBufferPointer(rebasing: k[0..<kb]), iv: nil, input: inp, output: out)
                }
            }
        }
        guard ok else { return nil }
        return plain.withUnsafeBytes { p -> [UInt8]? in
            guard let z = p.firstIndex(of: 0), z + 1 < p.count else { return nil }
            return Array(p[(z + 1)...])
        }
    }
}
