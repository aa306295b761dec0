/// The envelope of a volume whose key is held by a KMIP server (docs/key-managers.md): the
/// volume's secret is a random 32-byte data key that the server encrypts once (mode encrypt) and
/// decrypts on each unlock; the key-encryption key never leaves the server. The secret then
/// derives the KEK that opens the AES-GCM wraps in tdefs.conf, so a server that returns wrong
/// bytes (CBC is not authenticated) is caught there as a wrong key. Mode get fetches the server's
/// key itself, for servers without Encrypt and Decrypt.
public enum KMIPEnvelope {
    public static let secretBytes = 32

    /// A new secret and its record, with key `keyID` on `server` (made for the volume when nil:
    /// AES-256, named `keyName`, activated). The server's decryption is checked before anything is
    /// written. `created` is the identifier of a key this call made (to discard if the caller fails).
    public static func make(server: KMIPKeyServer, keyID: String?, keyName: String, mode: KMIPRecord.Mode)
        throws(KeyManagerError) -> (record: KMIPRecord, secret: SecureBytes, created: String?) {
        // An existing key by its unique identifier, or by its name ("name:NAME").
        var existing = keyID
        if let given = keyID, given.hasPrefix("name:") {
            let name = String(given.dropFirst(5))
            guard let found = try server.locate(name: name) else {
                throw KeyManagerError(server: server.endpoint, operation: "locate", keyID: name,
                                      reason: .refused(status: 1, reason: KMIPEnum.reasonItemNotFound, message: "no symmetric key is named \(name)"))
            }
            existing = found
        }
        let created = existing == nil ? try server.createKey(name: keyName) : nil
        let id = existing ?? created!
        do throws(KeyManagerError) {
            switch mode {
            case .encrypt:
                let secret = SecureBytes.random(count: secretBytes)
                let iv = Random.bytes(KMIPRecord.ivBytes)
                let wrapped = try server.encrypt(secret, keyID: id, iv: iv)
                let record = KMIPRecord(keyID: id, mode: .encrypt, iv: iv, wrappedSecret: wrapped)
                guard record.problem() == nil, try open(record, server: server).constantTimeEquals(secret) else {
                    throw KeyManagerError(server: server.endpoint, operation: "encrypt", keyID: id,
                                          reason: .malformed("its Decrypt does not give back what it encrypted"))
                }
                return (record, secret, created)
            case .get:
                let record = KMIPRecord(keyID: id, mode: .get)
                return (record, try open(record, server: server), created)
            }
        } catch {
            var failure = error
            if let created {
                do throws(KeyManagerError) {
                    try server.discard(created)
                } catch {
                    failure.note = "the key \(created) made for it is left on the server (\(error.reason))"
                }
            }
            throw failure
        }
    }

    /// The secret of a volume with this record, asked of `server`.
    public static func open(_ record: KMIPRecord, server: KMIPKeyServer) throws(KeyManagerError) -> SecureBytes {
        let secret: SecureBytes
        switch record.mode {
        case .encrypt:
            secret = try server.decrypt(record.wrappedSecret ?? [], keyID: record.keyID, iv: record.iv ?? [])
        case .get:
            secret = try server.fetchKey(record.keyID)
        }
        // The data key tdefs made is 32 bytes; a fetched key must be at least that (not AES-128).
        guard record.mode == .encrypt ? secret.count == secretBytes : secret.count >= secretBytes else {
            throw KeyManagerError(server: server.endpoint, operation: record.mode == .get ? "get" : "decrypt", keyID: record.keyID,
                                  reason: .malformed("it gave \(secret.count) bytes, not the \(secretBytes) of a volume secret"))
        }
        return secret
    }
}
