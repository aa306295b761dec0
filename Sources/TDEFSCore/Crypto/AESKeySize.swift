/// The two AES sizes a volume may use: AES-256 (default) or AES-192 (legacy volumes).
public enum AESKeySize: UInt8, Sendable, CaseIterable {
    case aes256 = 1
    case aes192 = 2

    /// Bytes of an AES-GCM key of this size.
    public var gcmKeyBytes: Int { self == .aes256 ? 32 : 24 }
    /// Bytes of an AES-SIV key of this size (two AES keys).
    public var sivKeyBytes: Int { gcmKeyBytes * 2 }
    /// The name shown to auditors and stored in tdefs.conf.
    public var cipherName: String { self == .aes256 ? "AES-256-GCM" : "AES-192-GCM" }
    var gcmAlgorithm: String { self == .aes256 ? "AES-256-GCM" : "AES-192-GCM" }
    var sivAlgorithm: String { self == .aes256 ? "AES-256-SIV" : "AES-192-SIV" }

    /// Parses "aes-256-gcm" / "AES-256-GCM" and the like.
    public init?(cipherName: String) {
        switch cipherName.lowercased() {
        case "aes-256-gcm": self = .aes256
        case "aes-192-gcm": self = .aes192
        default: return nil
        }
    }
}
