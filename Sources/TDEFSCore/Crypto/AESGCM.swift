import CPlatform
import COpenSSL

/// The fetched EVP_CIPHER objects, looked up once per process.
enum FetchedCiphers {
    nonisolated(unsafe) static let gcm256: OpaquePointer = fetch("AES-256-GCM")
    nonisolated(unsafe) static let gcm192: OpaquePointer = fetch("AES-192-GCM")
    nonisolated(unsafe) static let siv256: OpaquePointer = fetch("AES-256-SIV")
    nonisolated(unsafe) static let siv192: OpaquePointer = fetch("AES-192-SIV")
    nonisolated(unsafe) static let siv128: OpaquePointer = fetch("AES-128-SIV")

    static func gcm(_ size: AESKeySize) -> OpaquePointer { size == .aes256 ? gcm256 : gcm192 }
    static func siv(keyBytes: Int) -> OpaquePointer {
        switch keyBytes {
        case 64: return siv256
        case 48: return siv192
        case 32: return siv128
        default: preconditionFailure("AES-SIV keys are 32, 48 or 64 bytes")
        }
    }

    private static func fetch(_ name: String) -> OpaquePointer {
        guard let c = EVP_CIPHER_fetch(nil, name, nil) else {
            fatalError("OpenSSL does not provide \(name)")
        }
        return c
    }
}

/// AES-GCM with 16-byte nonces and 16-byte tags over one reusable EVP context.
/// Not thread-safe: use one per thread, or take one from a `GCMContextPool`.
/// The key is set once with `setKey`; each seal/open then sets only the nonce.
public final class AESGCM: @unchecked Sendable {
    public static let nonceBytes = 16
    public static let tagBytes = 16

    private let ctx: OpaquePointer
    private var keyed = false
    /// 16 for everything tdefs stores; other lengths exist for published test vectors.
    public let nonceLength: Int

    public init(nonceLength: Int = AESGCM.nonceBytes) {
        self.nonceLength = nonceLength
        guard let c = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new failed") }
        ctx = c
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }  // EVP_CIPHER_CTX_free cleanses key material.

    /// The cipher the context is set up for: a new key for the same cipher reuses OpenSSL's
    /// provider context (naming the cipher again would free and allocate it on every request).
    private var cipherSize: AESKeySize?

    /// Sets the key (24 or 32 bytes) for subsequent operations.
    public func setKey(_ key: UnsafeRawBufferPointer, size: AESKeySize) {
        precondition(key.count >= size.gcmKeyBytes)
        var ok: Int32 = 1
        if cipherSize != size {
            ok &= EVP_CipherInit_ex2(ctx, FetchedCiphers.gcm(size), nil, nil, 1, nil)
            ok &= EVP_CIPHER_CTX_ctrl(ctx, TDEFS_EVP_CTRL_GCM_SET_IVLEN, Int32(nonceLength), nil)
            cipherSize = size
        }
        ok &= EVP_CipherInit_ex2(ctx, nil, key.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, 1, nil)
        precondition(ok == 1, "AES-GCM key setup failed")
        keyed = true
    }

    public func setKey(_ key: SecureBytes, size: AESKeySize) {
        key.withUnsafeBytes { setKey($0, size: size) }
    }

    /// Encrypts `plaintext` to `ciphertext` (same length) and writes the tag.
    public func seal(nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     plaintext: UnsafeRawBufferPointer, ciphertext: UnsafeMutableRawPointer,
                     tag: UnsafeMutableRawPointer) -> Bool {
        precondition(keyed && nonce.count == nonceLength)
        guard EVP_CipherInit_ex2(ctx, nil, nil, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), 1, nil) == 1
        else { return false }
        var outl: Int32 = 0
        if aad.count > 0 {
            guard EVP_CipherUpdate(ctx, nil, &outl, aad.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1
            else { return false }
        }
        if plaintext.count > 0 {
            guard EVP_CipherUpdate(ctx, ciphertext.assumingMemoryBound(to: UInt8.self), &outl,
                                   plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count)) == 1
            else { return false }
        }
        var fin: Int32 = 0
        guard EVP_CipherFinal_ex(ctx, ciphertext.assumingMemoryBound(to: UInt8.self) + Int(outl), &fin) == 1 else { return false }
        return EVP_CIPHER_CTX_ctrl(ctx, TDEFS_EVP_CTRL_GCM_GET_TAG, Int32(Self.tagBytes), tag) == 1
    }

    /// Decrypts and authenticates; returns false when the tag does not verify (output then undefined).
    public func open(nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     ciphertext: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer,
                     plaintext: UnsafeMutableRawPointer) -> Bool {
        precondition(keyed && nonce.count == nonceLength && tag.count == Self.tagBytes)
        guard EVP_CipherInit_ex2(ctx, nil, nil, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), 0, nil) == 1
        else { return false }
        var outl: Int32 = 0
        if aad.count > 0 {
            guard EVP_CipherUpdate(ctx, nil, &outl, aad.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1
            else { return false }
        }
        if ciphertext.count > 0 {
            guard EVP_CipherUpdate(ctx, plaintext.assumingMemoryBound(to: UInt8.self), &outl,
                                   ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(ciphertext.count)) == 1
            else { return false }
        }
        guard EVP_CIPHER_CTX_ctrl(ctx, TDEFS_EVP_CTRL_GCM_SET_TAG, Int32(Self.tagBytes),
                                  UnsafeMutableRawPointer(mutating: tag.baseAddress!)) == 1 else { return false }
        var fin: Int32 = 0
        return EVP_CipherFinal_ex(ctx, plaintext.assumingMemoryBound(to: UInt8.self) + Int(outl), &fin) == 1
    }
}

extension AESGCM {
    /// Seals `plaintext` into a fresh array laid out as nonce | ciphertext | tag (for small, cold data).
    public func sealBox(_ plaintext: [UInt8], aad: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.nonceBytes + plaintext.count + Self.tagBytes)
        out.withUnsafeMutableBytes { o in
            Random.fill(UnsafeMutableRawBufferPointer(rebasing: o[0..<Self.nonceBytes]))
            let ok = plaintext.withUnsafeBytes { p in
                aad.withUnsafeBytes { a in
                    seal(nonce: UnsafeRawBufferPointer(rebasing: o[0..<Self.nonceBytes]), aad: a, plaintext: p,
                         ciphertext: o.baseAddress! + Self.nonceBytes,
                         tag: o.baseAddress! + Self.nonceBytes + plaintext.count)
                }
            }
            precondition(ok, "AES-GCM seal failed")
        }
        return out
    }

    /// Opens a nonce | ciphertext | tag box; nil when it is too short or does not authenticate.
    public func openBox(_ box: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) -> [UInt8]? {
        guard box.count >= Self.nonceBytes + Self.tagBytes else { return nil }
        let n = box.count - Self.nonceBytes - Self.tagBytes
        var out = [UInt8](repeating: 0, count: max(n, 1))
        let ok = out.withUnsafeMutableBytes { o in
            open(nonce: UnsafeRawBufferPointer(rebasing: box[0..<Self.nonceBytes]), aad: aad,
                 ciphertext: UnsafeRawBufferPointer(rebasing: box[Self.nonceBytes..<(Self.nonceBytes + n)]),
                 tag: UnsafeRawBufferPointer(rebasing: box[(Self.nonceBytes + n)...]),
                 plaintext: o.baseAddress!)
        }
        guard ok else {
            // The plaintext was written before the tag was checked: a key record opened with the
            // right key but another AAD would otherwise leave the key here.
            out.withUnsafeMutableBytes { tdefs_explicit_bzero($0.baseAddress, $0.count) }
            return nil
        }
        out.removeLast(out.count - n)
        return out
    }

    public func openBox(_ box: [UInt8], aad: [UInt8]) -> [UInt8]? {
        box.withUnsafeBytes { b in aad.withUnsafeBytes { a in openBox(b, aad: a) } }
    }
}
