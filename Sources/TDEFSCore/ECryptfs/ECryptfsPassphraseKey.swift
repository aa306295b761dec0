/// ecryptfs-utils' passphrase derivation (libecryptfs/key_management.c, generate_passphrase_sig):
///
///     h = SHA-512(salt || passphrase); then h = SHA-512(h), 65,535 more times (65,536 in all)
///     FEKEK (session_key_encryption_key) = h (64 bytes)
///     signature = hex of the first 8 bytes of SHA-512(h)
///
/// The mount key uses the salt 00 11 22 33 44 55 66 77 (ECRYPTFS_DEFAULT_SALT; the kernel copies
/// it into every tag 3 packet). The FNEK of `ecryptfs-add-passphrase --fnek` and of the PAM /
/// mount.ecryptfs_private path uses ECRYPTFS_DEFAULT_SALT_FNEK_HEX, the *string*
/// "9988776655443322", passed where 8 salt octets are read: its first 8 ASCII characters,
/// "99887766", are the salt.
public struct ECryptfsPassphraseKey: Sendable {
    public static let defaultSalt: [UInt8] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]
    public static let fnekSalt: [UInt8] = Array("99887766".utf8)
    public static let defaultIterations = 65536
    public static let maxPassphraseBytes = 64

    public let signature: String
    /// 64 bytes.
    public let fekek: SecureBytes

    public init(passphrase: SecureBytes, salt: [UInt8], iterations: Int = defaultIterations) {
        precondition(salt.count == 8 && iterations >= 1)
        let input = SecureBytes(count: 8 + passphrase.count)
        input.withUnsafeMutableBytes { i in
            for k in 0..<8 { i[k] = salt[k] }
            passphrase.withUnsafeBytes { p in
                UnsafeMutableRawBufferPointer(rebasing: i[8...]).copyMemory(from: p)
            }
        }
        let h = SecureBytes(count: 64)
        let t = SecureBytes(count: 64)
        h.withUnsafeMutableBytes { hb in
            input.withUnsafeBytes { ECryptfsCrypto.sha512($0, into: hb) }
            t.withUnsafeMutableBytes { tb in
                for _ in 1..<iterations {
                    ECryptfsCrypto.sha512(UnsafeRawBufferPointer(hb), into: tb)
                    hb.copyMemory(from: UnsafeRawBufferPointer(tb))
                }
            }
        }
        var sig = [UInt8](repeating: 0, count: 64)
        h.withUnsafeBytes { hb in sig.withUnsafeMutableBytes { ECryptfsCrypto.sha512(hb, into: $0) } }
        signature = ECryptfsCrypto.hex(sig[0..<8])
        fekek = h
    }
}
