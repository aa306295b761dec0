import COpenSSL

/// Key derivation through OpenSSL's EVP_KDF (scrypt, HKDF-SHA256) and hashing (SHA-256).
public enum KDF {
    public struct ScryptParameters: Codable, Equatable, Sendable {
        public var n: UInt64
        public var r: UInt32
        public var p: UInt32
        /// About 64 MiB and a few hundred milliseconds here.
        public static let standard = ScryptParameters(n: 1 << 16, r: 8, p: 1)
        public init(n: UInt64, r: UInt32, p: UInt32) { self.n = n; self.r = r; self.p = p }
    }

    public static func scrypt(passphrase: SecureBytes, salt: [UInt8], parameters: ScryptParameters,
                              length: Int) -> SecureBytes? {
        let out = SecureBytes(count: length)
        let ok = passphrase.withUnsafeBytes { pw in
            out.withUnsafeMutableBytes { o in
                tdefs_scrypt(pw.baseAddress?.assumingMemoryBound(to: UInt8.self), pw.count, salt, salt.count,
                             parameters.n, parameters.r, parameters.p,
                             o.baseAddress!.assumingMemoryBound(to: UInt8.self), length)
            }
        }
        return ok == 1 ? out : nil
    }

    public static func hkdfSHA256(key: SecureBytes, salt: [UInt8], info: String, length: Int) -> SecureBytes {
        let out = SecureBytes(count: length)
        let infoBytes = Array(info.utf8)
        let ok = key.withUnsafeBytes { k in
            out.withUnsafeMutableBytes { o in
                tdefs_hkdf_sha256(k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count, salt, salt.count,
                                  infoBytes, infoBytes.count, o.baseAddress!.assumingMemoryBound(to: UInt8.self), length)
            }
        }
        precondition(ok == 1, "HKDF failed")
        return out
    }

    public static func sha256(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = out.withUnsafeMutableBufferPointer { tdefs_sha256(data.baseAddress, data.count, $0.baseAddress) }
        precondition(ok == 1, "SHA-256 failed")
        return out
    }

    public static func sha256(_ data: [UInt8]) -> [UInt8] { data.withUnsafeBytes { sha256($0) } }
}
