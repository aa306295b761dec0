import FoundationEssentials

/// Requests and replies on a daemon's control socket: one JSON object per line each way.
public struct ControlRequest: Codable, Equatable, Sendable {
    public enum Operation: String, Codable, Sendable {
        case status
        /// Unlock a new epoch (master key in `key`, base64url) and make it current for new objects.
        case addEpoch = "add-epoch"
        /// Drop an epoch's key from memory.
        case retire
        /// Start re-encrypting everything under `epoch` (already unlocked by add-epoch); progress
        /// shows in later status replies.
        case reencrypt
    }
    public var op: Operation
    public var epoch: UInt32?
    public var cipher: String?
    public var key: String?

    public init(op: Operation, epoch: UInt32? = nil, cipher: String? = nil, key: String? = nil) {
        self.op = op; self.epoch = epoch; self.cipher = cipher; self.key = key
    }

    public static let maxBytes = 4096

    /// nil for anything that is not one well-formed request.
    public static func parse(_ bytes: [UInt8]) -> ControlRequest? {
        guard bytes.count <= maxBytes, let r = try? JSONDecoder().decode(ControlRequest.self, from: Data(bytes)) else { return nil }
        switch r.op {
        case .status: return r
        case .addEpoch:
            guard r.epoch != nil, let c = r.cipher, AESKeySize(cipherName: c) != nil,
                  let k = r.key, Base64URL.decode(k)?.count == VolumeCrypto.masterKeyBytes else { return nil }
            return r
        case .retire, .reencrypt:
            return r.epoch == nil ? nil : r
        }
    }

    public func encoded() -> [UInt8] {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return Array(data) + [0x0A]
    }
}

public struct ControlReply: Codable, Equatable, Sendable {
    public var ok: Bool
    public var error: String?
    public var currentEpoch: UInt32?
    public var epochs: [UInt32]?
    /// Online re-encryption: "running", "done" or "failed", with files and bytes done.
    public var reencrypt: String?
    public var files: Int?
    public var bytes: Int64?

    public init(ok: Bool, error: String? = nil, currentEpoch: UInt32? = nil, epochs: [UInt32]? = nil,
                reencrypt: String? = nil, files: Int? = nil, bytes: Int64? = nil) {
        self.ok = ok; self.error = error; self.currentEpoch = currentEpoch; self.epochs = epochs
        self.reencrypt = reencrypt; self.files = files; self.bytes = bytes
    }

    public static func parse(_ bytes: [UInt8]) -> ControlReply? {
        guard bytes.count <= ControlRequest.maxBytes else { return nil }
        return try? JSONDecoder().decode(ControlReply.self, from: Data(bytes))
    }

    public func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) + [0x0A] }
}

/// Where a volume's daemon listens: /run/tdefs/<volume ID>.sock (directory 0700, socket 0600).
public enum ControlSocketPath {
    public static let directory = "/run/tdefs"
    public static func path(volumeID: [UInt8]) -> String { directory + "/" + Base64URL.encode(volumeID) + ".sock" }
}
