/// What tdefs.conf records of a volume whose key is held by a KMIP server (keySource.kdf "kmip"):
/// the server's identifier of the key-encryption key and how the volume's secret is had from it.
/// Nothing here is secret: the wrapped data key opens only with the server's help.
public struct KMIPRecord: Equatable, Sendable {
    public enum Mode: String, Sendable {
        /// The server keeps the key: it encrypted the volume's 32-byte data key once (AES-CBC,
        /// PKCS#5 padding, the recorded IV) and decrypts it on each unlock.
        case encrypt
        /// For servers that offer only Get: the key itself is fetched into locked memory on each
        /// unlock and is the volume's secret.
        case get
    }

    public static let ivBytes = 16
    /// Longest key identifier and wrapped data key accepted from tdefs.conf.
    public static let maxKeyIDBytes = 256
    public static let maxWrappedBytes = 1024

    public var keyID: String
    public var mode: Mode
    /// The CBC IV and the server's ciphertext of the data key; present exactly in mode encrypt.
    public var iv: [UInt8]?
    public var wrappedSecret: [UInt8]?

    public init(keyID: String, mode: Mode, iv: [UInt8]? = nil, wrappedSecret: [UInt8]? = nil) {
        self.keyID = keyID; self.mode = mode; self.iv = iv; self.wrappedSecret = wrappedSecret
    }

    func problem() -> String? {
        if keyID.isEmpty || keyID.utf8.count > Self.maxKeyIDBytes { return "kmip.keyID is empty or longer than \(Self.maxKeyIDBytes) bytes" }
        switch mode {
        case .encrypt:
            guard let iv, iv.count == Self.ivBytes else { return "kmip.iv is not \(Self.ivBytes) bytes" }
            guard let wrappedSecret, !wrappedSecret.isEmpty, wrappedSecret.count <= Self.maxWrappedBytes,
                  wrappedSecret.count % 16 == 0 else {
                return "kmip.wrappedSecret is not 16 to \(Self.maxWrappedBytes) bytes in whole AES blocks"
            }
        case .get:
            if iv != nil || wrappedSecret != nil { return "kmip mode get has no iv or wrappedSecret" }
        }
        return nil
    }
}
