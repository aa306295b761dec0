import COpenSSL

/// The EVP calls the eCryptfs reader needs: SHA-512 (the ecryptfs-utils passphrase derivation),
/// MD5 (the kernel's root IV and per-extent IVs), AES-ECB decryption (the kernel's key
/// unwrapping and tag 70 names, ecryptfs-utils' wrapped passphrase) and AES-CBC decryption
/// (extents), all without padding. These reproduce the foreign format; tdefs' own crypto is in
/// Crypto/.
enum ECryptfsCrypto {
    static func sha512(_ data: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 64)
        var n: UInt32 = 64
        let ok = EVP_Digest(data.baseAddress, data.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &n, EVP_sha512(), nil)
        precondition(ok == 1, "EVP SHA-512 failed")
    }

    static func md5(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        var n: UInt32 = 16
        let ok = out.withUnsafeMutableBufferPointer {
            EVP_Digest(data.baseAddress, data.count, $0.baseAddress, &n, EVP_md5(), nil)
        }
        precondition(ok == 1, "EVP MD5 failed")
        return out
    }

    nonisolated(unsafe) static let ecb128: OpaquePointer = fetch("AES-128-ECB")
    nonisolated(unsafe) static let ecb192: OpaquePointer = fetch("AES-192-ECB")
    nonisolated(unsafe) static let ecb256: OpaquePointer = fetch("AES-256-ECB")
    nonisolated(unsafe) static let cbc128: OpaquePointer = fetch("AES-128-CBC")
    nonisolated(unsafe) static let cbc192: OpaquePointer = fetch("AES-192-CBC")
    nonisolated(unsafe) static let cbc256: OpaquePointer = fetch("AES-256-CBC")

    private static func fetch(_ name: String) -> OpaquePointer {
        guard let c = EVP_CIPHER_fetch(nil, name, nil) else { fatalError("OpenSSL does not provide \(name)") }
        return c
    }

    enum Mode { case ecb, cbc }

    /// Decrypts `input` (a multiple of 16 bytes) into `output` (at least as long) with AES in
    /// `mode` under `key` (16, 24 or 32 bytes); `iv` (16 bytes) for CBC. False on an EVP failure.
    static func aesDecrypt(mode: Mode, key: UnsafeRawBufferPointer, iv: UnsafeRawBufferPointer?,
                           input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) -> Bool {
        aes(encrypt: false, mode: mode, key: key, iv: iv, input: input, output: output)
    }

    /// AES encryption without padding, for ECryptfsEncoder (test vectors and fuzz seeds).
    static func aesEncrypt(mode: Mode, key: UnsafeRawBufferPointer, iv: UnsafeRawBufferPointer?,
                           input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) -> Bool {
        aes(encrypt: true, mode: mode, key: key, iv: iv, input: input, output: output)
    }

    private static func cipher(_ mode: Mode, keyBytes: Int) -> OpaquePointer? {
        switch (mode, keyBytes) {
        case (.ecb, 16): return ecb128
        case (.ecb, 24): return ecb192
        case (.ecb, 32): return ecb256
        case (.cbc, 16): return cbc128
        case (.cbc, 24): return cbc192
        case (.cbc, 32): return cbc256
        default: return nil
        }
    }

    /// One EVP cipher pass without padding, either way.
    private static func aes(encrypt: Bool, mode: Mode, key: UnsafeRawBufferPointer, iv: UnsafeRawBufferPointer?,
                            input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) -> Bool {
        guard input.count % 16 == 0, output.count >= input.count, let cipher = cipher(mode, keyBytes: key.count) else { return false }
        if input.count == 0 { return true }
        guard let ctx = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(ctx) }  // cleanses the key schedule
        let ivp = iv?.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard EVP_CipherInit_ex2(ctx, cipher, key.baseAddress!.assumingMemoryBound(to: UInt8.self), ivp, encrypt ? 1 : 0, nil) == 1,
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 else { return false }
        let out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var outl: Int32 = 0
        guard EVP_CipherUpdate(ctx, out, &outl, input.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(input.count)) == 1
        else { return false }
        var fin: Int32 = 0
        guard EVP_CipherFinal_ex(ctx, out + Int(outl), &fin) == 1 else { return false }
        return Int(outl + fin) == input.count
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var s = [UInt8]()
        for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }
}
