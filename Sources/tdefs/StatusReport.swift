import TDEFSCore

/// What `tdefs status` reports; `--json` prints it as one object (docs/cli.md lists the fields).
struct StatusReport {
    struct EpochInfo {
        var epoch: UInt32
        var created: String
        var cipher: String
        var files: Int
        var current: Bool
    }

    var backing: String
    var volumeID: String
    var format: String
    var formatVersion: Int
    var created: String
    var cipher: String
    /// The volume's profile (VolumeProfile): what its mounts serve unless -o says otherwise.
    var profile: VolumeProfile
    var keyDerivation: String
    /// scrypt's parameters (passphrase volumes), and whether they are below the default.
    var scrypt: KDF.ScryptParameters?
    var weakKeyDerivation: Bool
    /// The KMIP key that holds the volume's secret (key derivation kmip).
    var kmip: KMIPRecord?
    /// The PKCS#11 token and key that wrap the volume's secret (key derivation pkcs11).
    var pkcs11: PKCS11Record?
    /// Every key slot: its number, key derivation and key manager's key identifier.
    var slots: [(slot: Int, kdf: String, keyID: String?)]
    var currentEpoch: UInt32
    var lastRotated: String
    var epochs: [EpochInfo]
    var rotation: VolumeConfig.Rotation?
    var mounted: Bool
    var mountpoint: String?
    var locked: Bool
    var filesWithUnknownEpoch: Int
    var damagedHeaders: Int
    var unreadableEntries: Int
    var censusSource: CountedCensus.Source
    var censusState: String
    var countedAt: String

    init(located: LocatedVolume, config: VolumeConfig, census counted: CountedCensus, locked: Bool) {
        let census = counted.census
        censusSource = counted.source
        censusState = counted.state
        countedAt = counted.countedAt
        backing = located.backingPath
        volumeID = Base64URL.encode(config.volumeID)
        format = VolumeConfig.formatName
        formatVersion = config.formatVersion
        created = config.created
        cipher = config.cipher?.cipherName ?? "unknown"
        profile = config.effectiveProfile
        keyDerivation = config.keySource.kdf.rawValue
        scrypt = config.keySource.scrypt
        weakKeyDerivation = config.keySource.isWeakened
        kmip = config.keySource.kmip
        pkcs11 = config.keySource.pkcs11
        slots = config.allSlots.map { ($0.slot, $0.source.kdf.rawValue, $0.source.kmip?.keyID ?? $0.source.pkcs11?.uri) }
        currentEpoch = config.currentEpoch
        lastRotated = config.epoch(config.currentEpoch)?.created ?? config.created
        epochs = config.epochs.sorted { $0.epoch < $1.epoch }.map {
            EpochInfo(epoch: $0.epoch, created: $0.created, cipher: $0.cipher.cipherName,
                      files: census.filesPerEpoch[$0.epoch] ?? 0, current: $0.epoch == config.currentEpoch)
        }
        let known = Set(config.epochs.map(\.epoch))
        filesWithUnknownEpoch = census.filesPerEpoch.filter { !known.contains($0.key) }.map(\.value).reduce(0, +)
        damagedHeaders = census.damagedHeaders
        unreadableEntries = census.unreadable
        rotation = config.rotation
        mounted = located.mount != nil
        mountpoint = located.mount?.mountPoint
        self.locked = locked
    }

    /// The `status --json` object, fields in a fixed order.
    var json: JSONText {
        var fields: [(String, JSONText)] = [
            ("backing", .string(backing)),
            ("volumeID", .string(volumeID)),
            ("format", .string(format)),
            ("formatVersion", .int(Int64(formatVersion))),
            ("created", .string(created)),
            ("cipher", .string(cipher)),
            ("profile", .string(profile.rawValue)),
            ("extendedAttributes", .bool(profile.extendedAttributes)),
            ("keyDerivation", .string(keyDerivation)),
            ("scrypt", scrypt.map { .object([("n", .int(Int64($0.n))), ("r", .uint($0.r)), ("p", .uint($0.p))]) } ?? .null),
            ("weakKeyDerivation", .bool(weakKeyDerivation)),
            ("keySlots", .array(slots.map { .object([("slot", .int(Int64($0.slot))), ("keyDerivation", .string($0.kdf)),
                                                    ("keyID", $0.keyID.map { .string($0) } ?? .null)]) })),
            ("keyManager", kmip.map { .object([("kind", .string("kmip")), ("keyID", .string($0.keyID)), ("mode", .string($0.mode.rawValue))]) }
                ?? pkcs11.map { .object([("kind", .string("pkcs11")), ("uri", .string($0.uri))]) } ?? .null),
            ("currentEpoch", .uint(currentEpoch)),
            ("lastRotated", .string(lastRotated)),
            ("epochs", .array(epochs.map {
                .object([("epoch", .uint($0.epoch)), ("created", .string($0.created)), ("cipher", .string($0.cipher)),
                         ("files", .int(Int64($0.files))), ("current", .bool($0.current))])
            })),
            ("rotation", rotation?.json ?? .null),
            ("mounted", .bool(mounted)),
        ]
        if let mountpoint { fields.append(("mountpoint", .string(mountpoint))) }
        fields += [
            ("locked", .bool(locked)),
            ("filesWithUnknownEpoch", .int(Int64(filesWithUnknownEpoch))),
            ("damagedHeaders", .int(Int64(damagedHeaders))),
            ("unreadableEntries", .int(Int64(unreadableEntries))),
            ("census", .object([("source", .string(censusSource.rawValue)), ("state", .string(censusState)),
                                ("countedAt", .string(countedAt))])),
        ]
        return .object(fields)
    }

    /// Aligned "label  value" lines for people.
    var humanText: String {
        var lines: [(String, String)] = [
            ("backing", backing),
            ("volume ID", volumeID),
            ("format", "\(format) v\(formatVersion)"),
            ("created", created),
            ("cipher", cipher),
            ("profile", "\(profile.rawValue) (\(profile.extendedAttributes ? "user.* extended attributes kept" : "no extended attributes"))"),
            ("key source", pkcs11.map { "PKCS#11 token, \($0.uri)" } ?? kmip.map { "KMIP server, key \($0.keyID) (\($0.mode == .encrypt ? "it decrypts the volume's data key" : "the key is fetched"))" }
                ?? scrypt.map { "passphrase (scrypt N=\($0.n), r=\($0.r), p=\($0.p))" } ?? "key (hkdf-sha256)"),
            ("last rotated", lastRotated),
        ]
        if slots.count > 1 {
            lines.append(("key slots", slots.map { "\($0.slot): \($0.kdf)" + ($0.keyID.map { " (\($0))" } ?? "") }.joined(separator: ", ")))
        }
        for e in epochs {
            let mark = e.current ? ", current" : ""
            let files = e.files == 1 ? "1 file" : "\(e.files) files"
            lines.append(("epoch \(e.epoch)", "\(e.cipher), created \(e.created), \(files)\(mark)"))
        }
        if let r = rotation {
            let to = r.toEpoch.map { " to epoch \($0)" } ?? ""
            lines.append(("rotation", "\(r.state)\(to), \(r.done)/\(r.total)"))
        } else {
            lines.append(("rotation", "none"))
        }
        if let mountpoint {
            lines.append(("mounted", "yes, at \(mountpoint)"))
        } else {
            lines.append(("mounted", locked ? "no (but the volume is locked by a tdefs process)" : "no"))
        }
        if weakKeyDerivation {
            lines.append(("warning", "the key derivation is weaker than the default (scrypt N=\(KDF.ScryptParameters.standard.n)): "
                + "run tdefs passwd with a new passphrase to strengthen it"))
        }
        switch (censusSource, censusState) {
        case (.daemon, "stale"):
            lines.append(("census", "the daemon's, counted \(countedAt), before the rotation in progress rewrapped headers"))
        case (.daemon, _):
            lines.append(("census", "the daemon's, counted \(countedAt) and kept up to date"))
        case (.walk, _):
            lines.append(("census", "counted now by walking the backing directory"))
        }
        if filesWithUnknownEpoch > 0 { lines.append(("warning", "\(filesWithUnknownEpoch) files name an epoch the volume does not list")) }
        if damagedHeaders > 0 { lines.append(("warning", "\(damagedHeaders) files have a damaged header (run tdefs fsck)")) }
        if unreadableEntries > 0 { lines.append(("warning", "\(unreadableEntries) backing entries could not be read")) }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0 + String(repeating: " ", count: width - $0.0.count + 2) + $0.1 }.joined(separator: "\n")
    }
}
