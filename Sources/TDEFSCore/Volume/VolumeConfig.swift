/// The model of tdefs.conf, format version 1 or 2 (docs/format.md). Byte fields are base64url in JSON.
/// Parsing never traps: any malformed input becomes a `VolumeError`.
public struct VolumeConfig: Equatable, Sendable {
    public static let fileName = "tdefs.conf"
    public static let formatName = "tdefs"
    /// What `init` makes: 2 (files without holes, their end bound). Version 1 volumes keep mounting.
    public static let formatVersion = FormatVersions.newestVolume
    public static let volumeIDBytes = 16
    public static let saltBytes = 32
    /// nonce (16) | encrypted master key (32) | tag (16).
    public static let wrappedKeyBytes = AESGCM.nonceBytes + VolumeCrypto.masterKeyBytes + AESGCM.tagBytes

    /// How the key source's secret becomes the key-encryption key.
    public enum KeyDerivation: String, Codable, Sendable {
        case scrypt
        case hkdfSHA256 = "hkdf-sha256"
        /// The secret is a data key that a KMIP server unwraps (or hands out) on each unlock; the
        /// KEK is derived from it as for hkdf-sha256 (docs/key-managers.md).
        case kmip
        /// The secret is a data key that a PKCS#11 token's AES key unwraps on each unlock.
        case pkcs11
    }

    public struct KeySource: Equatable, Sendable {
        public var kdf: KeyDerivation
        public var salt: [UInt8]
        /// Present exactly when `kdf` is scrypt.
        public var scrypt: KDF.ScryptParameters?
        /// Present exactly when `kdf` is kmip.
        public var kmip: KMIPRecord?
        /// Present exactly when `kdf` is pkcs11.
        public var pkcs11: PKCS11Record?
        /// A key slot's wrap of the volume's KEK under the key this source derives (KeySlots);
        /// nil for a source whose derived key is the KEK itself (every volume without slots).
        public var wrappedKEK: [UInt8]?
        public init(kdf: KeyDerivation, salt: [UInt8], scrypt: KDF.ScryptParameters?, kmip: KMIPRecord? = nil,
                    pkcs11: PKCS11Record? = nil) {
            self.kdf = kdf; self.salt = salt; self.scrypt = scrypt; self.kmip = kmip; self.pkcs11 = pkcs11
        }

        /// A passphrase KDF cheaper than the default: scrypt with a smaller N, r or p.
        public var isWeakened: Bool {
            guard let scrypt else { return false }
            let standard = KDF.ScryptParameters.standard
            return scrypt.n < standard.n || scrypt.r < standard.r || scrypt.p < standard.p
        }
    }

    public struct KeySlot: Equatable, Sendable {
        public var slot: Int
        public var source: KeySource
        public init(slot: Int, source: KeySource) { self.slot = slot; self.source = source }
    }

    public struct Epoch: Equatable, Sendable {
        public var epoch: UInt32
        public var created: String
        public var cipher: AESKeySize
        public var wrappedKey: [UInt8]
        public init(epoch: UInt32, created: String, cipher: AESKeySize, wrappedKey: [UInt8]) {
            self.epoch = epoch; self.created = created; self.cipher = cipher; self.wrappedKey = wrappedKey
        }
    }

    public struct Rotation: Equatable, Sendable {
        public var state: String
        public var done: UInt64
        public var total: UInt64
        public var toEpoch: UInt32?
        public init(state: String, done: UInt64, total: UInt64, toEpoch: UInt32?) {
            self.state = state; self.done = done; self.total = total; self.toEpoch = toEpoch
        }
    }

    public var formatVersion: Int
    /// The epoch a recorded `rotate --reencrypt` moves to (re-key records towards it are valid).
    public var reencryptTarget: UInt32? { rotation?.state == "reencrypting" ? rotation?.toEpoch : nil }
    public var volumeID: [UInt8]
    public var created: String
    public var keySource: KeySource
    public var currentEpoch: UInt32
    public var epochs: [Epoch]
    public var rotation: Rotation?
    /// The key slots beside `keySource` (slot 0), numbered from 1; each wraps the KEK (KeySlots).
    public var keySlots: [KeySlot] = []
    /// What the volume is for (VolumeProfile); nil in a tdefs.conf written before profiles.
    public var profile: VolumeProfile?
    /// The profile that sets the mount defaults: the recorded one, else `VolumeProfile.unrecorded`.
    public var effectiveProfile: VolumeProfile { profile ?? .unrecorded }
    /// Counts the writes of this configuration (ConfigTransaction): 1 for a new volume, 0 for one
    /// written by a release before tdefs.conf was authenticated.
    public var generation: UInt64 = 0
    /// nonce (16) | tag (16): AES-GCM under a key derived from the KEK over everything else
    /// (VolumeConfigSeal); nil in a configuration written before tdefs.conf was authenticated.
    public var mac: [UInt8]?

    public init(volumeID: [UInt8], created: String, keySource: KeySource, currentEpoch: UInt32,
                epochs: [Epoch], rotation: Rotation? = nil) {
        formatVersion = Self.formatVersion
        self.volumeID = volumeID
        self.created = created
        self.keySource = keySource
        self.currentEpoch = currentEpoch
        self.epochs = epochs
        self.rotation = rotation
    }

    /// Every key slot: 0 (`keySource`), then `keySlots`.
    public var allSlots: [KeySlot] { [KeySlot(slot: 0, source: keySource)] + keySlots }

    /// The record of an epoch, if the volume has it.
    public func epoch(_ n: UInt32) -> Epoch? { epochs.first { $0.epoch == n } }

    /// The volume's cipher: the current epoch's.
    public var cipher: AESKeySize? { epoch(currentEpoch)?.cipher }

    /// Checks everything the JSON types cannot; returns what is wrong, or nil.
    public func problem() -> String? {
        if formatVersion < 1 || formatVersion > FormatVersions.newestConfig { return "formatVersion \(formatVersion) is not 1 to \(FormatVersions.newestConfig)" }
        if volumeID.count != Self.volumeIDBytes { return "volumeID is not \(Self.volumeIDBytes) bytes" }
        if created.isEmpty { return "created is empty" }
        if let why = Self.keySourceProblem(keySource) { return why }
        if (!keySlots.isEmpty || keySource.wrappedKEK != nil) && formatVersion < FormatVersions.keySlots {
            return "keySlots and wrappedKEK need formatVersion \(FormatVersions.keySlots)"
        }
        var slots = Set<Int>([0])
        for s in keySlots {
            if s.slot < 1 || s.slot > 255 || !slots.insert(s.slot).inserted { return "keySlots: slot \(s.slot) is not 1 to 255 or is listed twice" }
            if s.source.wrappedKEK == nil { return "keySlots: slot \(s.slot) has no wrappedKEK" }
            if let why = Self.keySourceProblem(s.source) { return "keySlots: slot \(s.slot): \(why)" }
        }
        if epochs.isEmpty { return "no epochs" }
        var seen = Set<UInt32>()
        for e in epochs {
            if e.epoch == 0 { return "epoch 0 is not allowed" }
            if !seen.insert(e.epoch).inserted { return "epoch \(e.epoch) is listed twice" }
            if e.created.isEmpty { return "epoch \(e.epoch): created is empty" }
            if e.wrappedKey.count != Self.wrappedKeyBytes {
                return "epoch \(e.epoch): wrappedKey is not \(Self.wrappedKeyBytes) bytes"
            }
        }
        if !seen.contains(currentEpoch) { return "currentEpoch \(currentEpoch) is not among the epochs" }
        if let r = rotation, r.state.isEmpty { return "rotation.state is empty" }
        if let mac, mac.count != VolumeConfigSeal.macBytes { return "mac is not \(VolumeConfigSeal.macBytes) bytes" }
        return nil
    }

    /// What is wrong with a key-source record, or nil.
    public static func keySourceProblem(_ keySource: KeySource) -> String? {
        if keySource.salt.count != saltBytes { return "keySource.salt is not \(saltBytes) bytes" }
        if let w = keySource.wrappedKEK, w.count != wrappedKeyBytes { return "keySource.wrappedKEK is not \(wrappedKeyBytes) bytes" }
        switch keySource.kdf {
        case .scrypt:
            guard let p = keySource.scrypt else { return "keySource lacks scrypt parameters n, r, p" }
            if let why = scryptProblem(p) { return "keySource: \(why)" }
        case .hkdfSHA256:
            break
        case .kmip:
            guard let record = keySource.kmip else { return "keySource lacks the KMIP key's record (keyID, mode)" }
            if let why = record.problem() { return "keySource: \(why)" }
        case .pkcs11:
            guard let record = keySource.pkcs11 else { return "keySource lacks the PKCS#11 key's record (uri, iv, wrappedSecret)" }
            if let why = record.problem() { return "keySource: \(why)" }
        }
        return nil
    }

    /// scrypt parameters tdefs accepts: N a power of two, bounded memory (128·N·r ≤ 1 GiB) and work.
    public static func scryptProblem(_ p: KDF.ScryptParameters) -> String? {
        guard p.n >= 2, p.n & (p.n - 1) == 0, p.n <= 1 << 24 else { return "scrypt n must be a power of two from 2 to 2^24" }
        guard (1...64).contains(p.r) else { return "scrypt r must be 1 to 64" }
        guard (1...16).contains(p.p) else { return "scrypt p must be 1 to 16" }
        guard 128 * p.n * UInt64(p.r) <= 1 << 30 else { return "scrypt n·r needs more than 1 GiB" }
        return nil
    }
}
