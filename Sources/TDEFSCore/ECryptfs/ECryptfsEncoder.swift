/// Writes the eCryptfs structures the reader parses, for tests (malformed-input and round-trip
/// tests beside the real-kernel fixtures) and fuzz seeds. Not used to make eCryptfs volumes. Tag 70
/// names are the kernel's byte for byte (its "random" prefix is not random: it is derived from the
/// FNEK alone); headers differ from the kernel's only in the marker, fixed here, random there.
public enum ECryptfsEncoder {
    static func ecb(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: data.count)
        let ok = key.withUnsafeBytes { k in data.withUnsafeBytes { i in out.withUnsafeMutableBytes {
            ECryptfsCrypto.aesEncrypt(mode: .ecb, key: k, iv: nil, input: i, output: $0) } } }
        precondition(ok)
        return out
    }

    static func length(_ n: Int) -> [UInt8] {
        precondition(n < 8384)
        if n < 192 { return [UInt8(n)] }
        let m = n - 192
        return [UInt8(m / 256 + 192), UInt8(m % 256)]
    }

    static func unhex(_ s: String) -> [UInt8] {
        let c = Array(s.utf8)
        return stride(from: 0, to: c.count, by: 2).map { UInt8(String(decoding: c[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
    }

    /// The lower name for `name` under FNEK `fnek` (its 64-byte FEKEK) with `keyBytes`-byte AES, as
    /// the kernel writes it (keystore.c, ecryptfs_write_tag_70_packet): 16 prefix octets plus the
    /// 0x00 separator, padded so prefix + separator + name fill whole 16-byte AES blocks (the block
    /// size, whatever the key size); the prefix octets are MD5(session_key_encryption_key, all 64
    /// bytes), re-hashed (MD5 of the previous digest) after every 16 octets, with 0x00 replaced by
    /// ECRYPTFS_NON_NULL (0x42); AES-ECB under the first `keyBytes` octets of the FEKEK.
    public static func encryptName(_ name: [UInt8], fnek: ECryptfsPassphraseKey, keyBytes: Int) -> [UInt8] {
        var rand = 16 + 1
        if (rand + name.count) % 16 != 0 { rand += 16 - (rand + name.count) % 16 }
        var hash = fnek.fekek.withUnsafeBytes { ECryptfsCrypto.md5($0) }
        var prefix: [UInt8] = []
        for j in 0..<(rand - 1) {
            let b = hash[j % 16]
            if j % 16 == 15 { hash = hash.withUnsafeBytes { ECryptfsCrypto.md5($0) } }
            prefix.append(b == 0 ? 0x42 : b)
        }
        var plain = prefix + [0] + name
        let key = fnek.fekek.withUnsafeBytes { Array($0[0..<keyBytes]) }
        let enc = ecb(key, plain)
        plain = []
        let code: UInt8 = keyBytes == 16 ? 0x07 : keyBytes == 24 ? 0x08 : 0x09
        let body = unhex(fnek.signature) + [code] + enc
        return ECryptfsFilenameEncoding.prefix + ECryptfsFilenameEncoding.encode([ECryptfsTag70Packet.type] + length(body.count) + body)
    }

    /// A header (8,192 bytes, or the bare header for the xattr) for `size` plaintext bytes with
    /// FEK `fek` wrapped under `key`.
    public static func header(size: UInt64, fek: [UInt8], key: ECryptfsPassphraseKey, salt: [UInt8] = ECryptfsPassphraseKey.defaultSalt,
                              inXattr: Bool = false, encryptFilenames: Bool = false) -> [UInt8] {
        var h: [UInt8] = []
        for i in 0..<8 { h.append(UInt8((size >> (56 - 8 * UInt64(i))) & 0xff)) }
        let m1: UInt32 = 0x1234_5678, m2 = m1 ^ ECryptfsFileHeader.marker
        for v in [m1, m2] { for i in 0..<4 { h.append(UInt8((v >> (24 - 8 * UInt32(i))) & 0xff)) } }
        var flags: UInt32 = 0x0300_0000 | ECryptfsFileHeader.flagEncrypted
        if inXattr { flags |= ECryptfsFileHeader.flagMetadataInXattr }
        if encryptFilenames { flags |= ECryptfsFileHeader.flagEncryptFilenames }
        for i in 0..<4 { h.append(UInt8((flags >> (24 - 8 * UInt32(i))) & 0xff)) }
        h += [0x00, 0x00, 0x10, 0x00, 0x00, 0x02]  // 4096-byte header extents, 2 of them
        let kb = fek.count
        let padded = kb == 24 ? fek + [UInt8](repeating: 0, count: 8) : fek
        let wrapped = ecb(key.fekek.withUnsafeBytes { Array($0[0..<kb]) }, padded)
        let code: UInt8 = kb == 16 ? 0x07 : kb == 24 ? 0x08 : 0x09
        let t3body = [0x04, code, 0x03, 0x01] + salt + [0x60] + wrapped
        h += [ECryptfsTag3Packet.type] + length(t3body.count) + t3body
        let t11body = [0x62, 0x08] + Array("_CONSOLE".utf8) + [0, 0, 0, 0] + unhex(key.signature)
        h += [ECryptfsTag11Packet.type] + length(t11body.count) + t11body
        if !inXattr { h += [UInt8](repeating: 0, count: 8192 - h.count) }
        return h
    }

    /// The lower file's data extents for `plaintext` under `fek`.
    public static func extents(_ plaintext: [UInt8], fek: [UInt8]) -> [UInt8] {
        let es = ECryptfsExtentCipher.extentSize
        let c = ECryptfsExtentCipher(fek: SecureBytes(copying: fek))
        var out: [UInt8] = []
        var n = 0
        while n * es < plaintext.count {
            var ext = Array(plaintext[(n * es)..<min(plaintext.count, (n + 1) * es)])
            ext += [UInt8](repeating: 0, count: es - ext.count)
            var enc = [UInt8](repeating: 0, count: es)
            let iv = c.iv(extent: Int64(n))
            let ok = fek.withUnsafeBytes { k in iv.withUnsafeBytes { v in ext.withUnsafeBytes { i in enc.withUnsafeMutableBytes {
                ECryptfsCrypto.aesEncrypt(mode: .cbc, key: k, iv: v, input: i, output: $0) } } } }
            precondition(ok)
            out += enc
            n += 1
        }
        return out
    }

    /// A version 2 wrapped-passphrase file.
    public static func wrappedPassphrase(_ passphrase: [UInt8], login: SecureBytes, salt: [UInt8]) -> [UInt8] {
        let key = ECryptfsPassphraseKey(passphrase: login, salt: salt)
        var padded = passphrase
        while padded.count % 16 != 0 { padded.append(0) }
        let enc = ecb(key.fekek.withUnsafeBytes { Array($0[0..<16]) }, padded)
        return [UInt8(ascii: ":"), 2] + salt + Array(key.signature.utf8) + enc
    }
}
