/// What tdefs.conf records of a volume whose key is wrapped by an AES key in a PKCS#11 token
/// (keySource.kdf "pkcs11"): the token and key's URI (RFC 7512, without any PIN), and the token's
/// AES-GCM encryption of the volume's 32-byte data key. Nothing here is secret.
public struct PKCS11Record: Equatable, Sendable {
    public static let ivBytes = 12
    public static let maxURIBytes = 1024
    /// The data key (32) and the GCM tag (16).
    public static let wrappedBytes = 48

    public var uri: String
    public var iv: [UInt8]
    public var wrappedSecret: [UInt8]

    public init(uri: String, iv: [UInt8], wrappedSecret: [UInt8]) {
        self.uri = uri; self.iv = iv; self.wrappedSecret = wrappedSecret
    }

    func problem() -> String? {
        if !uri.hasPrefix("pkcs11:") || uri.utf8.count > Self.maxURIBytes { return "pkcs11.uri is not a pkcs11: URI of at most \(Self.maxURIBytes) bytes" }
        if uri.contains("pin-value") || uri.contains("pin-source") { return "pkcs11.uri holds a PIN attribute" }
        if iv.count != Self.ivBytes { return "pkcs11.iv is not \(Self.ivBytes) bytes" }
        if wrappedSecret.count != Self.wrappedBytes { return "pkcs11.wrappedSecret is not \(Self.wrappedBytes) bytes" }
        return nil
    }
}
