import COpenSSL

/// Deterministic authenticated encryption (AES-SIV, RFC 5297) through OpenSSL's EVP interface.
/// Output layout: 16-byte synthetic IV (the tag) followed by the ciphertext.
/// The key's length picks the variant: 32 bytes AES-128-SIV (test vectors only), 48 AES-192-SIV, 64 AES-256-SIV.
public enum AESSIV {
    public static let tagBytes = 16

    /// Encrypts with one associated-data component per element of `associatedData`.
    public static func seal(key: SecureBytes, associatedData: [[UInt8]],
                            plaintext: UnsafeRawBufferPointer) -> [UInt8] {
        guard let ctx = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(ctx) }
                var out = [UInt8](repeating: 0, count: tagBytes + plaintext.count)
        let ok: Bool = key.withUnsafeBytes { k in
            guard EVP_CipherInit_ex2(ctx, FetchedCiphers.siv(keyBytes: key.count), k.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                     nil, 1, nil) == 1 else { return false }
            var outl: Int32 = 0
            for ad in associatedData {
                let r = ad.withUnsafeBufferPointer { EVP_CipherUpdate(ctx, nil, &outl, $0.baseAddress, Int32($0.count)) }
                guard r == 1 else { return false }
            }
            return out.withUnsafeMutableBufferPointer { o -> Bool in
                // An empty plaintext still needs one Update so that S2V runs: point it at scratch.
                let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
                defer { scratch.deallocate() }
                let dst = plaintext.count > 0 ? o.baseAddress! + tagBytes : scratch
                let src = plaintext.count > 0 ? plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self) : UnsafePointer(scratch)
                guard EVP_CipherUpdate(ctx, dst, &outl, src, Int32(plaintext.count)) == 1 else { return false }
                var fin: Int32 = 0
                guard EVP_CipherFinal_ex(ctx, scratch, &fin) == 1 else { return false }
                return EVP_CIPHER_CTX_ctrl(ctx, TDEFS_EVP_CTRL_AEAD_GET_TAG, Int32(tagBytes), o.baseAddress) == 1
            }
        }
        precondition(ok, "AES-SIV seal failed")
        return out
    }

    /// Decrypts and authenticates tag|ciphertext; nil when it does not verify.
    public static func open(key: SecureBytes, associatedData: [[UInt8]],
                            box: UnsafeRawBufferPointer) -> [UInt8]? {
        guard box.count >= tagBytes else { return nil }
        guard let ctx = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(ctx) }
                let n = box.count - tagBytes
        var out = [UInt8](repeating: 0, count: max(n, 1))
        let ok: Bool = key.withUnsafeBytes { k in
            guard EVP_CipherInit_ex2(ctx, FetchedCiphers.siv(keyBytes: key.count), k.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                     nil, 0, nil) == 1 else { return false }
            guard EVP_CIPHER_CTX_ctrl(ctx, TDEFS_EVP_CTRL_AEAD_SET_TAG, Int32(tagBytes),
                                      UnsafeMutableRawPointer(mutating: box.baseAddress!)) == 1 else { return false }
            var outl: Int32 = 0
            for ad in associatedData {
                let r = ad.withUnsafeBufferPointer { EVP_CipherUpdate(ctx, nil, &outl, $0.baseAddress, Int32($0.count)) }
                guard r == 1 else { return false }
            }
            return out.withUnsafeMutableBufferPointer { o -> Bool in
                let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
                defer { scratch.deallocate() }
                let src = n > 0 ? box.baseAddress!.assumingMemoryBound(to: UInt8.self) + tagBytes : UnsafePointer(scratch)
                // A failed check shows as Update returning 0.
                guard EVP_CipherUpdate(ctx, o.baseAddress, &outl, src, Int32(n)) == 1 else { return false }
                var fin: Int32 = 0
                return EVP_CipherFinal_ex(ctx, scratch, &fin) == 1
            }
        }
        guard ok else { return nil }
        if n == 0 { return [] }
        return out
    }
}
