import Glibc

/// One key event of the audit stream (docs/audit.md): a stable name, the volume, the epoch, the
/// key source and the key manager's key identifier, the outcome, the uid and host that caused it,
/// and the time. Never key material, a PIN or a passphrase: the fields are identifiers and counts.
public struct AuditEvent: Sendable {
    /// The event names and their journal MESSAGE_IDs. Both are an interface: never renamed or reused.
    public enum Kind: String, CaseIterable, Sendable {
        case initialized = "init"
        case unlock
        case unlockFailed = "unlock-failed"
        case passwd
        case rotateStarted = "rotate-started"
        case rotateResumed = "rotate-resumed"
        case rotateProgress = "rotate-progress"
        case rotateDone = "rotate-done"
        case retire
        case exportKey = "export-key"
        case lock
        case keyRevoked = "key-revoked"
        case shred

        public var messageID: String {
            switch self {
            case .initialized: "b862eb94dffc41c9a58b7e8a4184058b"
            case .unlock: "8b4b62a383b54198879b0b3dba597ff0"
            case .unlockFailed: "43140d04ab124a8b8aaf453a476a0ec9"
            case .passwd: "0857e30586e74eb99c36876b96a347cd"
            case .rotateStarted: "fb35a8de0f194bc3935331a4b97d2665"
            case .rotateResumed: "2633b59e0d924fa9afd768ed0a53fba0"
            case .rotateProgress: "08a81e3b4b4f4bf3818044a04a178a41"
            case .rotateDone: "af21eebcd09d45fa955abfc9a7fe7a64"
            case .retire: "a5ff0c1326254949bcb6e4990dee1568"
            case .exportKey: "2d903ba7f9834e168c5dbab7b296ac1f"
            case .lock: "b9b7430c27344bef8bee9e1f1b1e65a0"
            case .keyRevoked: "918b1f25401947269968b735e2049e38"
            case .shred: "b5261ca4006c4a6e884f2a0bfa667eb9"
            }
        }

        /// The key was not accepted (the other events record what was done).
        public var isFailure: Bool { self == .unlockFailed }
    }

    public var kind: Kind
    public var time: String
    public var volume: String
    public var backing: String
    public var epoch: UInt32?
    /// The volume's key derivation, which names the kind of key source: "scrypt" (a passphrase),
    /// "hkdf-sha256" (a key file, key command or credential), "kmip" (a KMIP server) or "pkcs11"
    /// (a PKCS#11 token).
    public var keySource: String
    /// The key manager's name of the volume's key: the KMIP unique identifier, or the PKCS#11 URI.
    public var keyID: String?
    public var uid: uid_t
    public var host: String
    public var details: [(String, String)]

    public init(_ kind: Kind, volume: String, backing: String, epoch: UInt32?, keySource: VolumeConfig.KeySource,
                details: [(String, String)] = []) {
        self.kind = kind
        time = Volume.timestamp()
        self.volume = volume
        self.backing = backing
        self.epoch = epoch
        self.keySource = keySource.kdf.rawValue
        keyID = keySource.kmip?.keyID ?? keySource.pkcs11?.uri
        uid = getuid()
        host = Self.hostName()
        self.details = details
    }

    public var outcome: String { kind.isFailure ? "failure" : "success" }

    static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The event as one JSON object, fields in the documented order; numeric details as numbers.
    public var json: JSONText {
        var fields: [(String, JSONText)] = [("time", .string(time)), ("event", .string(kind.rawValue)),
                                            ("outcome", .string(outcome)), ("volume", .string(volume)),
                                            ("backing", .string(backing))]
        if let epoch { fields.append(("epoch", .uint(epoch))) }
        fields += [("keySource", .string(keySource)), ("keyID", keyID.map { .string($0) } ?? .null),
                   ("uid", .uint(uid)), ("host", .string(host))]
        fields += details.map { ($0.0, Int64($0.1).map { JSONText.int($0) } ?? .string($0.1)) }
        return .object(fields)
    }

    /// The event as a journal entry: MESSAGE_ID per kind and a field of its own for each value.
    public func journalEntry(identifier: String, line: String) -> JournalEntry {
        var e = JournalEntry()
        e.add("MESSAGE", "tdefs audit: \(kind.rawValue) (\(outcome)) of volume \(volume) at \(backing)"
              + (epoch.map { ", epoch \($0)" } ?? ""))
        e.add("MESSAGE_ID", kind.messageID)
        e.add("PRIORITY", kind.isFailure ? "4" : "5")
        e.add("SYSLOG_IDENTIFIER", identifier)
        e.add("TDEFS_AUDIT_EVENT", kind.rawValue)
        e.add("TDEFS_AUDIT_OUTCOME", outcome)
        e.add("TDEFS_VOLUME_ID", volume)
        e.add("TDEFS_VOLUME", backing)
        if let epoch { e.add("TDEFS_EPOCH", String(epoch)) }
        e.add("TDEFS_KEY_SOURCE", keySource)
        if let keyID { e.add("TDEFS_KEY_ID", keyID) }
        e.add("TDEFS_UID", String(uid))
        e.add("TDEFS_HOST", host)
        e.add("TDEFS_AUDIT", line)
        return e
    }
}
