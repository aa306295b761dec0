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
        /// Count the census again (an online rotation rewrapped the headers behind the daemon).
        case recount
        /// `tdefs lock`: stop serving at once and drop every key (the daemon exits; the mount stays
        /// in place, dead).
        case lock
    }
    public var op: Operation
    public var epoch: UInt32?
    public var cipher: String?
    /// An add-epoch's master key in base64url (what releases before keyLength sent).
    public var key: String?
    /// An add-epoch's master key follows the request line as this many raw bytes, read from and
    /// into locked memory on both sides (never in the JSON, a String or a Data).
    public var keyLength: Int?
    /// The daemon this request is for (ControlEndpoint.identity); another daemon refuses it.
    public var daemon: String?
    /// The tdefs.conf generation the CLI read or wrote: the daemon remembers the highest it was told.
    public var generation: UInt64?

    public init(op: Operation, epoch: UInt32? = nil, cipher: String? = nil, key: String? = nil, generation: UInt64? = nil) {
        self.op = op; self.epoch = epoch; self.cipher = cipher; self.key = key; self.generation = generation
    }

    public static let maxBytes = 4096

    /// nil for anything that is not one well-formed request.
    public static func parse(_ bytes: [UInt8]) -> ControlRequest? {
        guard bytes.count <= maxBytes, let r = try? JSONDecoder().decode(ControlRequest.self, from: Data(bytes)) else { return nil }
        switch r.op {
        case .status, .recount, .lock: return r
        case .addEpoch:
            guard r.epoch != nil, let c = r.cipher, AESKeySize(cipherName: c) != nil else { return nil }
            if r.keyLength == VolumeCrypto.masterKeyBytes && r.key == nil { return r }
            guard r.keyLength == nil, let k = r.key, Base64URL.decode(k)?.count == VolumeCrypto.masterKeyBytes else { return nil }
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
    /// The daemon that answered (ControlEndpoint.identity); the CLI checks it.
    public var daemon: String?
    /// The highest tdefs.conf generation this daemon has seen (at mount, and in requests since): a
    /// tdefs.conf with a lower one was put back from a copy while the volume was mounted.
    public var configGeneration: UInt64?
    public var currentEpoch: UInt32?
    public var epochs: [UInt32]?
    /// Online re-encryption: "running", "done" or "failed", with files and bytes done.
    public var reencrypt: String?
    public var files: Int?
    public var bytes: Int64?
    /// The daemon's census (status replies), so that `tdefs status` need not walk the tree.
    public var census: Census?

    /// What LiveCensus holds: `state` "counting" (no counts yet), "current" or "stale".
    public struct Census: Codable, Equatable, Sendable {
        public struct Epoch: Codable, Equatable, Sendable {
            public var epoch: UInt32
            public var files: Int
            public var directories: Int
            public var symlinks: Int
            public init(epoch: UInt32, files: Int, directories: Int, symlinks: Int) {
                self.epoch = epoch; self.files = files; self.directories = directories; self.symlinks = symlinks
            }
        }
        public var state: String
        public var countedAt: String?
        public var epochs: [Epoch]
        public var damagedHeaders: Int
        public var unreadable: Int
        /// A walk runs: "stale" counts are about to be replaced.
        public var recounting: Bool?

        public init(state: String, countedAt: String?, epochs: [Epoch], damagedHeaders: Int, unreadable: Int,
                    recounting: Bool? = nil) {
            self.state = state; self.countedAt = countedAt; self.epochs = epochs
            self.damagedHeaders = damagedHeaders; self.unreadable = unreadable; self.recounting = recounting
        }

        public init(_ snapshot: LiveCensus.Snapshot) {
            let c = snapshot.census ?? FileCensus()
            let numbers = Set(c.filesPerEpoch.keys).union(c.directoriesPerEpoch.keys).union(c.symlinksPerEpoch.keys).sorted()
            self.init(state: snapshot.state.rawValue, countedAt: snapshot.countedAt,
                      epochs: numbers.map { Epoch(epoch: $0, files: c.filesPerEpoch[$0] ?? 0,
                                                  directories: c.directoriesPerEpoch[$0] ?? 0, symlinks: c.symlinksPerEpoch[$0] ?? 0) },
                      damagedHeaders: c.damagedHeaders, unreadable: c.unreadable, recounting: snapshot.recounting)
        }

        /// The counts, when the daemon has them.
        public var fileCensus: FileCensus? {
            guard state != LiveCensus.State.counting.rawValue else { return nil }
            var c = FileCensus()
            for e in epochs {
                if e.files > 0 { c.filesPerEpoch[e.epoch] = e.files }
                if e.directories > 0 { c.directoriesPerEpoch[e.epoch] = e.directories }
                if e.symlinks > 0 { c.symlinksPerEpoch[e.epoch] = e.symlinks }
            }
            c.damagedHeaders = damagedHeaders
            c.unreadable = unreadable
            return c
        }

        var isWellFormed: Bool {
            guard LiveCensus.State(rawValue: state) != nil, damagedHeaders >= 0, unreadable >= 0 else { return false }
            guard epochs.allSatisfy({ $0.files >= 0 && $0.directories >= 0 && $0.symlinks >= 0 }) else { return false }
            return Set(epochs.map(\.epoch)).count == epochs.count
        }
    }

    public init(ok: Bool, error: String? = nil, currentEpoch: UInt32? = nil, epochs: [UInt32]? = nil,
                reencrypt: String? = nil, files: Int? = nil, bytes: Int64? = nil, census: Census? = nil) {
        self.ok = ok; self.error = error; self.currentEpoch = currentEpoch; self.epochs = epochs
        self.reencrypt = reencrypt; self.files = files; self.bytes = bytes; self.census = census
    }

    /// Replies may list many epochs: larger than requests.
    public static let maxBytes = 65536

    /// nil for anything that is not one well-formed reply.
    public static func parse(_ bytes: [UInt8]) -> ControlReply? {
        guard bytes.count <= maxBytes, let r = try? JSONDecoder().decode(ControlReply.self, from: Data(bytes)) else { return nil }
        if let c = r.census, !c.isWellFormed { return nil }
        return r
    }

    public func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) + [0x0A] }
}

/// The directory of the daemons' control sockets (0700; sockets 0600, named by ControlEndpoint).
public enum ControlSocketPath {
    public static let directory = "/run/tdefs"
}
