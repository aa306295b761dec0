/// Extent decryption (kernel crypto.c, crypt_extent / ecryptfs_derive_iv / ecryptfs_compute_root_iv):
///
///     root IV = MD5(FEK)                                 (16 bytes)
///     IV(n)   = MD5(root IV || decimal n, zero-padded to 16 bytes)
///     extent n (4,096 bytes at lower offset header size + n * 4,096) = AES-CBC-decrypt(FEK, IV(n))
///
/// n counts 4,096-byte extents from the start of the plaintext. The last extent is whole on
/// disk; the plaintext size from the header cuts it.
public struct ECryptfsExtentCipher: Sendable {
    public static let extentSize = 4096
    private let fek: SecureBytes
    public let rootIV: [UInt8]
    public var keyBytes: Int { fek.count }

    public init(fek: SecureBytes) {
        self.fek = fek
        rootIV = fek.withUnsafeBytes { ECryptfsCrypto.md5($0) }
    }

    public func iv(extent n: Int64) -> [UInt8] {
        var src = rootIV + [UInt8](repeating: 0, count: 16)
        let digits = Array(String(n).utf8.prefix(15))
        for (i, d) in digits.enumerated() { src[16 + i] = d }
        return src.withUnsafeBytes { ECryptfsCrypto.md5($0) }
    }

    /// Decrypts one whole extent in place-free form.
    public func decrypt(extent n: Int64, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) -> Bool {
        let iv = iv(extent: n)
        return fek.withUnsafeBytes { k in
            iv.withUnsafeBytes { ECryptfsCrypto.aesDecrypt(mode: .cbc, key: k, iv: $0, input: input, output: output) }
        }
    }
}
