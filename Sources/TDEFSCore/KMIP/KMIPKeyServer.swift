/// The key operations tdefs asks of a KMIP server, each over a connection of its own (a mount
/// talks to the server once; nothing is kept open). Every failure is a KeyManagerError naming the
/// server, the operation and the key; key material travels in SecureBytes on tdefs' side and the
/// transient arrays that TTLV needs are zeroed once the message is sent or read.
public struct KMIPKeyServer: Sendable {
    public let host: String
    public let port: UInt16
    public let credentials: KMIPConnection.Credentials
    public let timeoutSeconds: Int

    /// `endpoint` is HOST:PORT or [IPv6]:PORT.
    public init(endpoint: String, credentials: KMIPConnection.Credentials, timeoutSeconds: Int = 10) throws(KeyManagerError) {
        guard let (host, port) = KMIPConnection.parseEndpoint(endpoint) else {
            throw KeyManagerError(server: endpoint, operation: "reach", keyID: nil,
                                  reason: .transport("\(endpoint) is not HOST:PORT (or [IPv6]:PORT)"))
        }
        self.host = host; self.port = port; self.credentials = credentials; self.timeoutSeconds = timeoutSeconds
    }

    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Creates an AES-256 key for Encrypt and Decrypt named `name`, activates it, and returns its
    /// unique identifier.
    public func createKey(name: String) throws(KeyManagerError) -> String {
        let id = try call(.create, KMIPOperation.create(bits: 256, name: name), keyID: nil) { p throws(KMIPError) in
            try KMIPOperation.uniqueIdentifier(of: p)
        }
        do {
            _ = try call(.activate, KMIPOperation.object(id), keyID: id) { _ in () }
        } catch {
            // A key that never became active may be destroyed without a revocation.
            var failure = error
            do {
                _ = try call(.destroy, KMIPOperation.object(id), keyID: id) { _ in () }
            } catch {
                failure.note = "the key \(id) it created is left on the server"
            }
            throw failure
        }
        return id
    }

    /// The unique identifier of the one symmetric key named `name`; nil when there is none. Two
    /// keys of that name are an error: the name does not say which.
    public func locate(name: String) throws(KeyManagerError) -> String? {
        let ids = try call(.locate, KMIPOperation.locate(name: name), keyID: nil) { p throws(KMIPError) in
            KMIPOperation.uniqueIdentifiers(of: p)
        }
        guard ids.count <= 1 else {
            throw KeyManagerError(server: endpoint, operation: "locate", keyID: name,
                                  reason: .malformed("\(ids.count) keys are named \(name); give the unique identifier"))
        }
        return ids.first
    }

    /// The server's AES-CBC (PKCS#5) encryption of `secret` under key `keyID` and `iv`.
    public func encrypt(_ secret: SecureBytes, keyID: String, iv: [UInt8]) throws(KeyManagerError) -> [UInt8] {
        var plain = secret.withUnsafeBytes { Array($0) }
        defer { plain.withUnsafeMutableBytes { tdefs_zero($0) } }
        return try call(.encrypt, KMIPOperation.cipher(keyID, data: plain, iv: iv), keyID: keyID) { p throws(KMIPError) in
            try KMIPOperation.data(of: p)
        }
    }

    /// The server's decryption of `wrapped` under key `keyID` and `iv`, in locked memory.
    public func decrypt(_ wrapped: [UInt8], keyID: String, iv: [UInt8]) throws(KeyManagerError) -> SecureBytes {
        Self.secure(try call(.decrypt, KMIPOperation.cipher(keyID, data: wrapped, iv: iv), keyID: keyID) { p throws(KMIPError) in
            try KMIPOperation.data(of: p)
        })
    }

    /// Key `keyID` itself (Get), in locked memory: for servers that offer no Encrypt and Decrypt.
    public func fetchKey(_ keyID: String) throws(KeyManagerError) -> SecureBytes {
        Self.secure(try call(.get, KMIPOperation.object(keyID), keyID: keyID) { p throws(KMIPError) in
            try KMIPOperation.keyMaterial(of: p)
        })
    }

    /// Revokes key `keyID` (Cessation of Operation): the server refuses it from then on.
    public func revoke(_ keyID: String) throws(KeyManagerError) {
        try call(.revoke, KMIPOperation.revoke(keyID), keyID: keyID) { _ in () }
    }

    /// Revokes and destroys key `keyID` (a key made for a volume that was then not created).
    public func discard(_ keyID: String) throws(KeyManagerError) {
        try revoke(keyID)
        try call(.destroy, KMIPOperation.object(keyID), keyID: keyID) { _ in () }
    }

    /// One request over a fresh connection; `read` takes what it needs from the response payload.
    func call<T>(_ operation: KMIPEnum.Operation, _ payload: [TTLV], keyID: String?,
                 _ read: (TTLV) throws(KMIPError) -> T) throws(KeyManagerError) -> T {
        do throws(KMIPError) {
            let connection = try KMIPConnection(host: host, port: port, credentials: credentials, timeoutSeconds: timeoutSeconds)
            let response = try connection.roundTrip(KMIPMessage.request(operation, payload: payload))
            return try read(try KMIPMessage.payload(ofResponse: response, to: operation))
        } catch {
            throw KeyManagerError(server: endpoint, operation: "\(operation)", keyID: keyID, reason: error)
        }
    }

    /// Copies key bytes taken from a decoded message into locked memory and zeroes the array.
    /// Called once `call` has returned: the message is gone, so the array is the only reference to
    /// its storage and the zeroing reaches the bytes the decoder wrote (no copy on write).
    static func secure(_ bytes: consuming [UInt8]) -> SecureBytes {
        var bytes = bytes
        defer { bytes.withUnsafeMutableBytes { tdefs_zero($0) } }
        return SecureBytes(copying: bytes)
    }
}

/// A key manager could not be reached, or refused: what the operator sees (exit status 16).
/// Names the server, the operation and the key's identifier; never key material.
public struct KeyManagerError: Error, Equatable, Sendable, CustomStringConvertible {
    public let server: String
    public let operation: String
    public let keyID: String?
    public let reason: KMIPError
    /// What else the operator must know (a key left on the server by a failed init).
    public var note: String?

    public init(server: String, operation: String, keyID: String?, reason: KMIPError) {
        self.server = server; self.operation = operation; self.keyID = keyID; self.reason = reason
    }

    /// The server answered and refused (a revoked, destroyed or unknown key; no permission).
    public var isRefusal: Bool { if case .refused = reason { true } else { false } }

    /// The server could not be reached, ended the TLS session, or failed in general (General
    /// Failure): trying again later may work.
    public var isUnreachable: Bool {
        switch reason {
        case .transport: true
        case .refused(_, let r, _): r == KMIPEnum.reasonGeneralFailure
        default: false
        }
    }

    /// The server refused because of the key itself: destroyed or unknown, revoked or deactivated,
    /// archived, or not this client's. What `-o key_check` locks the volume for.
    public var keyIsWithdrawn: Bool {
        guard case .refused(_, let r?, _) = reason else { return false }
        return [KMIPEnum.reasonItemNotFound, KMIPEnum.reasonPermissionDenied, KMIPEnum.reasonObjectArchived].contains(r)
    }

    public var description: String {
        let key = keyID.map { " with key \($0)" } ?? ""
        let hint = keyIsWithdrawn && keyID != nil ? " (is the key revoked, destroyed, or not this client's?)" : ""
        return "KMIP server \(server): \(operation)\(key) failed: \(reason)\(hint)" + (note.map { "; \($0)" } ?? "")
    }
}
