import COpenSSL
import Synchronization

/// Deterministic authenticated encryption (AES-SIV, RFC 5297) through OpenSSL's EVP interface.
/// Output layout: 16-byte synthetic IV (the tag) followed by the ciphertext.
/// The key's length picks the variant: 32 bytes AES-128-SIV (test vectors only), 48 AES-192-SIV, 64 AES-256-SIV.
public enum AESSIV {
    public static let tagBytes = 16

    /// One-shot encryption under a key used once (test vectors, per-file attribute names).
    public static func seal(key: SecureBytes, associatedData: [[UInt8]],
                            plaintext: UnsafeRawBufferPointer) -> [UInt8] {
        AESSIVKey(key).seal(associatedData: associatedData, plaintext: plaintext)
    }

    /// One-shot decryption; nil when it does not verify.
    public static func open(key: SecureBytes, associatedData: [[UInt8]],
                            box: UnsafeRawBufferPointer) -> [UInt8]? {
        AESSIVKey(key).open(associatedData: associatedData, box: box)
    }
}

/// An AES-SIV key set up once. Setting up a SIV key is most of the cost of encrypting a name
/// (OpenSSL fetches CMAC by name and derives its subkeys), so a key that is used for every
/// lookup keeps a keyed context that is never used itself: each operation starts from a copy.
/// Thread-safe. The expanded key lives in OpenSSL's context until deinit, which cleanses it.
public final class AESSIVKey: @unchecked Sendable {
    /// Keyed, with S2V at its initial state; only ever copied (under `copying`).
    private let template: OpaquePointer
    private let copying = Mutex<Void>(())

    public init(_ key: SecureBytes) {
        guard let ctx = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new failed") }
        let ok = key.withUnsafeBytes { k in
            EVP_CipherInit_ex2(ctx, FetchedCiphers.siv(keyBytes: key.count),
                               k.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, 1, nil) == 1
        }
        precondition(ok, "AES-SIV key setup failed")
        template = ctx
    }

    deinit { EVP_CIPHER_CTX_free(template) }

    /// A fresh context for one operation in direction `encrypt`; the caller frees it.
    private func start(encrypt: Bool) -> OpaquePointer {
        guard let ctx = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new failed") }
        let copied = copying.withLock { _ in EVP_CIPHER_CTX_copy(ctx, template) == 1 }
        // No cipher and no key: only the direction changes, S2V stays as copied.
        guard copied, EVP_CipherInit_ex2(ctx, nil, nil, nil, encrypt ? 1 : 0, nil) == 1 else {
            fatalError("AES-SIV context copy failed")
        }
        return ctx
    }

    /// Encrypts with one associated-data component per element of `associatedData`.
    public func seal(associatedData: [[UInt8]], plaintext: UnsafeRawBufferPointer) -> [UInt8] {
        let ctx = start(encrypt: true)
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: AESSIV.tagBytes + plaintext.count)
        var outl: Int32 = 0
        for ad in associatedData {
            let r = ad.withUnsafeBufferPointer { EVP_CipherUpdate(ctx, nil, &outl, $0.baseAddress, Int32($0.count)) }
            precondition(r == 1, "AES-SIV seal failed")
        }
        let ok = out.withUnsafeMutableBufferPointer { o -> Bool in
            // An empty plaintext still needs one Update so that S2V runs: point it at scratch.
            var scratch = (UInt64(0), UInt64(0))
            return withUnsafeMutableBytes(of: &scratch) { s -> Bool in
                let sp = s.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let dst = plaintext.count > 0 ? o.baseAddress! + AESSIV.tagBytes : sp
                let src = plaintext.count > 0 ? plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self) : UnsafePointer(sp)
                guard EVP_CipherUpdate(ctx, dst, &outl, src, Int32(plaintext.count)) == 1 else { return false }
                var fin: Int32 = 0
                guard EVP_CipherFinal_ex(ctx, sp, &fin) == 1 else { return false }
                return EVP_CIPHER_CTX_ctrl(ctx, TDEFS_EVP_CTRL_AEAD_GET_TAG, Int32(AESSIV.tagBytes), o.baseAddress) == 1
            }
        }
        precondition(ok, "AES-SIV seal failed")
        return out
    }

    /// Decrypts and authenticates tag|ciphertext; nil when it does not verify.
    public func open(associatedData: [[UInt8]], box: UnsafeRawBufferPointer) -> [UInt8]? {
        guard box.count >= AESSIV.tagBytes else { return nil }
        let ctx = start(encrypt: false)
        defer { EVP_CIPHER_CTX_free(ctx) }
        let n = box.count - AESSIV.tagBytes
        guard EVP_CIPHER_CTX_ctrl(ctx, TDEFS_EVP_CTRL_AEAD_SET_TAG, Int32(AESSIV.tagBytes),
                                  UnsafeMutableRawPointer(mutating: box.baseAddress!)) == 1 else { return nil }
        var outl: Int32 = 0
        for ad in associatedData {
            let r = ad.withUnsafeBufferPointer { EVP_CipherUpdate(ctx, nil, &outl, $0.baseAddress, Int32($0.count)) }
            guard r == 1 else { return nil }
        }
        var out = [UInt8](repeating: 0, count: max(n, 1))
        let ok = out.withUnsafeMutableBufferPointer { o -> Bool in
            var scratch = (UInt64(0), UInt64(0))
            return withUnsafeMutableBytes(of: &scratch) { s -> Bool in
                let sp = s.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let src = n > 0 ? box.baseAddress!.assumingMemoryBound(to: UInt8.self) + AESSIV.tagBytes : UnsafePointer(sp)
                // A failed check shows as Update returning 0.
                guard EVP_CipherUpdate(ctx, o.baseAddress, &outl, src, Int32(n)) == 1 else { return false }
                var fin: Int32 = 0
                return EVP_CipherFinal_ex(ctx, sp, &fin) == 1
            }
        }
        guard ok else { return nil }
        if n == 0 { return [] }
        return out
    }
}
