/// The envelope of a volume whose key is wrapped by a PKCS#11 token (docs/key-managers.md): the
/// volume's secret is a random 32-byte data key that the token's AES key encrypts with AES-GCM
/// (AAD: "tdefs-pkcs11-v1" | volume ID) once and decrypts on each unlock; the AES key never
/// leaves the token. The secret derives the KEK by HKDF, as for a key file.
public enum PKCS11Envelope {
    public static let secretBytes = 32

    static func aad(volumeID: [UInt8]) -> [UInt8] { Array("tdefs-pkcs11-v1".utf8) + volumeID }

    /// A new secret and its record under the key `uri` names, made on the token when it has none.
    /// The token's decryption is checked before anything is written.
    public static func make(uri: String, modulePath: String?, pin: SecureBytes?, volumeID: [UInt8])
        throws(PKCS11Error) -> (record: PKCS11Record, secret: SecureBytes, madeKey: Bool) {
        let token = try PKCS11Token(uri: uri, modulePath: modulePath, pin: pin)
        var made = false
        let key: PKCS11Token.KeyHandle
        if let found = try token.findKey() {
            key = found
        } else {
            key = try token.generateKey()
            made = true
        }
        do throws(PKCS11Error) {
            let secret = SecureBytes.random(count: secretBytes)
            let iv = Random.bytes(PKCS11Record.ivBytes)
            let wrapped = try token.encrypt(secret, key: key, iv: iv, aad: aad(volumeID: volumeID))
            let record = PKCS11Record(uri: PKCS11Token.redacted(uri), iv: iv, wrappedSecret: wrapped)
            guard record.problem() == nil,
                  try token.decrypt(wrapped, key: key, iv: iv, aad: aad(volumeID: volumeID)).constantTimeEquals(secret) else {
                throw PKCS11Error(.failed, "the token's AES-GCM does not give back what it encrypted under \(record.uri)")
            }
            return (record, secret, made)
        } catch {
            if made { token.destroy(key) }
            throw error
        }
    }

    /// The secret of a volume with this record, asked of the token `uri` names (the recorded URI
    /// when nil).
    public static func open(_ record: PKCS11Record, uri: String?, modulePath: String?, pin: SecureBytes?,
                            volumeID: [UInt8]) throws(PKCS11Error) -> SecureBytes {
        let token = try PKCS11Token(uri: uri ?? record.uri, modulePath: modulePath, pin: pin)
        guard let key = try token.findKey() else {
            throw PKCS11Error(.keyMissing, "the token has no AES key matching \(token.uriText) (deleted?)")
        }
        let secret = try token.decrypt(record.wrappedSecret, key: key, iv: record.iv, aad: aad(volumeID: volumeID))
        guard secret.count == secretBytes else {
            throw PKCS11Error(.notAuthentic, "the token gave \(secret.count) bytes, not the \(secretBytes) of a volume secret")
        }
        return secret
    }
}
