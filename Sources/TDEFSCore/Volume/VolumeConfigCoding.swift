#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import FoundationEssentials
#endif

/// JSON coding of tdefs.conf. Keys are written in the order docs/format.md shows them;
/// `rotation` is always present (null when no rotation runs).
extension VolumeConfig: Codable {
    enum Keys: String, CodingKey {
        case format, formatVersion, volumeID, created, profile, keySource, keySlots, currentEpoch, epochs, rotation, generation, mac
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let format = try c.decode(String.self, forKey: .format)
        guard format == Self.formatName else {
            throw DecodingError.dataCorruptedError(forKey: .format, in: c, debugDescription: "format is not \"tdefs\"")
        }
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        volumeID = try c.decodeBase64URL(.volumeID)
        created = try c.decode(String.self, forKey: .created)
        if let name = try c.decodeIfPresent(String.self, forKey: .profile) {
            guard let known = VolumeProfile(rawValue: name) else {
                throw DecodingError.dataCorruptedError(forKey: .profile, in: c, debugDescription:
                    "profile \"\(name)\" is not one of \(VolumeProfile.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            profile = known
        }
        keySource = try c.decode(KeySource.self, forKey: .keySource)
        keySlots = try c.decodeIfPresent([KeySlot].self, forKey: .keySlots) ?? []
        currentEpoch = try c.decode(UInt32.self, forKey: .currentEpoch)
        epochs = try c.decode([Epoch].self, forKey: .epochs)
        rotation = try c.decodeIfPresent(Rotation.self, forKey: .rotation)
        generation = try c.decodeIfPresent(UInt64.self, forKey: .generation) ?? 0
        if c.contains(.mac) { mac = try c.decodeBase64URL(.mac) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(Self.formatName, forKey: .format)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(Base64URL.encode(volumeID), forKey: .volumeID)
        try c.encode(created, forKey: .created)
        if let profile { try c.encode(profile.rawValue, forKey: .profile) }
        try c.encode(keySource, forKey: .keySource)
        if !keySlots.isEmpty { try c.encode(keySlots, forKey: .keySlots) }
        try c.encode(currentEpoch, forKey: .currentEpoch)
        try c.encode(epochs, forKey: .epochs)
        if let rotation { try c.encode(rotation, forKey: .rotation) } else { try c.encodeNil(forKey: .rotation) }
        if let mac {
            try c.encode(generation, forKey: .generation)
            try c.encode(Base64URL.encode(mac), forKey: .mac)
        }
    }

    /// Parses tdefs.conf's bytes. An unknown `format`, a newer `formatVersion`, malformed JSON or a
    /// field that fails its check each give a `VolumeError` naming `path`.
    public static func parse(_ bytes: [UInt8], path: String) throws(VolumeError) -> VolumeConfig {
        let data = Data(bytes)
        // Look at the version first, so that a newer format is reported as such, not as damage.
        struct Present: Decodable { init(from decoder: Decoder) {} }
        struct Probe: Decodable { var format: String?; var formatVersion: Int?; var shredded: String?; var keySource: Present?; var epochs: Present? }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: data) else {
            throw .corruptConfig(path: path, detail: "malformed JSON, or format/formatVersion of the wrong type")
        }
        guard probe.format == formatName else { throw .corruptConfig(path: path, detail: "format is not \"tdefs\"") }
        // A shred's marker holds no keys; a "shredded" field beside them is damage, not a shred.
        if let when = probe.shredded {
            guard probe.keySource == nil && probe.epochs == nil else {
                throw .corruptConfig(path: path, detail: "a shred's mark inside a whole configuration")
            }
            throw .shredded(path: path, when: when)
        }
        guard let version = probe.formatVersion else { throw .corruptConfig(path: path, detail: "formatVersion is missing") }
        if version > FormatVersions.newestConfig { throw .unsupportedVersion(path: path, version: version) }
        let config: VolumeConfig
        do {
            config = try JSONDecoder().decode(VolumeConfig.self, from: data)
        } catch let e as DecodingError {
            throw .corruptConfig(path: path, detail: Self.describe(e))
        } catch {
            throw .corruptConfig(path: path, detail: "malformed JSON")
        }
        if let why = config.problem() { throw .corruptConfig(path: path, detail: why) }
        return config
    }

    /// The JSON text written to disk: fields in the documented order, a final newline.
    public func encoded() -> [UInt8] {
        Array((json.render() + "\n").utf8)
    }

    /// tdefs.conf as an ordered JSON value.
    public var json: JSONText { json(includingMAC: true) }

    /// What the MAC covers: every field but `mac`, rendered as on disk (VolumeConfigSeal).
    var authenticatedBytes: [UInt8] { Array(json(includingMAC: false).render().utf8) }

    func json(includingMAC: Bool) -> JSONText {
        var fields: [(String, JSONText)] = [
            ("format", .string(Self.formatName)),
            ("formatVersion", .int(Int64(formatVersion))),
            ("volumeID", .string(Base64URL.encode(volumeID))),
            ("created", .string(created)),
        ]
        // Only when recorded: a configuration from before profiles renders (and seals) as before.
        if let profile { fields.append(("profile", .string(profile.rawValue))) }
        fields.append(("keySource", .object(keySource.jsonFields)))
        // Only when there are slots: a configuration without them renders (and seals) as before.
        if !keySlots.isEmpty {
            let slots: [JSONText] = keySlots.map { slot in .object([("slot", .int(Int64(slot.slot)))] + slot.source.jsonFields) }
            fields.append(("keySlots", .array(slots)))
        }
        fields += [
            ("currentEpoch", .uint(currentEpoch)),
            ("epochs", .array(epochs.map(\.json))),
            ("rotation", rotation?.json ?? .null),
        ]
        if mac != nil || !includingMAC { fields.append(("generation", .uint(generation))) }
        if includingMAC, let mac { fields.append(("mac", .string(Base64URL.encode(mac)))) }
        return .object(fields)
    }

    private static func describe(_ e: DecodingError) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "top level" : p
        }
        switch e {
        case .keyNotFound(let key, let ctx):
            let at = path(ctx)
            return "field \(at == "top level" ? "" : at + ".")\(key.stringValue) is missing"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return "field \(path(ctx)) has the wrong type"
        case .dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "malformed JSON, or a number out of range" : "field \(path(ctx)): \(ctx.debugDescription)"
        @unknown default:
            return "malformed JSON"
        }
    }
}

extension VolumeConfig.KeySource {
    /// The fields of a key-source object, in the documented order.
    var jsonFields: [(String, JSONText)] {
        var source: [(String, JSONText)] = [("kdf", .string(kdf.rawValue)), ("salt", .string(Base64URL.encode(salt)))]
        if kdf == .scrypt, let p = scrypt { source += [("n", .uint(p.n)), ("r", .uint(p.r)), ("p", .uint(p.p))] }
        if kdf == .kmip, let k = kmip { source.append(("kmip", k.json)) }
        if kdf == .pkcs11, let k = pkcs11 { source.append(("pkcs11", k.json)) }
        if let wrappedKEK { source.append(("wrappedKEK", .string(Base64URL.encode(wrappedKEK)))) }
        return source
    }
}

extension VolumeConfig.KeySlot: Codable {
    enum Keys: String, CodingKey { case slot }

    public init(from decoder: Decoder) throws {
        slot = try decoder.container(keyedBy: Keys.self).decode(Int.self, forKey: .slot)
        source = try VolumeConfig.KeySource(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(slot, forKey: .slot)
        try source.encode(to: encoder)
    }
}

extension VolumeConfig.KeySource: Codable {
    enum Keys: String, CodingKey { case kdf, salt, n, r, p, kmip, pkcs11, wrappedKEK }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        guard let kdf = VolumeConfig.KeyDerivation(rawValue: try c.decode(String.self, forKey: .kdf)) else {
            throw DecodingError.dataCorruptedError(forKey: .kdf, in: c, debugDescription: "unknown kdf")
        }
        self.kdf = kdf
        salt = try c.decodeBase64URL(.salt)
        if kdf == .scrypt {
            scrypt = KDF.ScryptParameters(n: try c.decode(UInt64.self, forKey: .n),
                                          r: try c.decode(UInt32.self, forKey: .r),
                                          p: try c.decode(UInt32.self, forKey: .p))
        } else {
            scrypt = nil
        }
        kmip = kdf == .kmip ? try c.decode(KMIPRecord.self, forKey: .kmip) : nil
        pkcs11 = kdf == .pkcs11 ? try c.decode(PKCS11Record.self, forKey: .pkcs11) : nil
        wrappedKEK = c.contains(.wrappedKEK) ? try c.decodeBase64URL(.wrappedKEK) : nil
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kdf, forKey: .kdf)
        try c.encode(Base64URL.encode(salt), forKey: .salt)
        if kdf == .scrypt, let s = scrypt {
            try c.encode(s.n, forKey: .n)
            try c.encode(s.r, forKey: .r)
            try c.encode(s.p, forKey: .p)
        }
        if kdf == .kmip, let k = kmip { try c.encode(k, forKey: .kmip) }
        if kdf == .pkcs11, let k = pkcs11 { try c.encode(k, forKey: .pkcs11) }
        if let wrappedKEK { try c.encode(Base64URL.encode(wrappedKEK), forKey: .wrappedKEK) }
    }
}

extension PKCS11Record: Codable {
    enum Keys: String, CodingKey { case uri, iv, wrappedSecret }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        uri = try c.decode(String.self, forKey: .uri)
        iv = try c.decodeBase64URL(.iv)
        wrappedSecret = try c.decodeBase64URL(.wrappedSecret)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(uri, forKey: .uri)
        try c.encode(Base64URL.encode(iv), forKey: .iv)
        try c.encode(Base64URL.encode(wrappedSecret), forKey: .wrappedSecret)
    }

    var json: JSONText {
        .object([("uri", .string(uri)), ("iv", .string(Base64URL.encode(iv))), ("wrappedSecret", .string(Base64URL.encode(wrappedSecret)))])
    }
}

extension KMIPRecord: Codable {
    enum Keys: String, CodingKey { case keyID, mode, iv, wrappedSecret }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        keyID = try c.decode(String.self, forKey: .keyID)
        guard let mode = Mode(rawValue: try c.decode(String.self, forKey: .mode)) else {
            throw DecodingError.dataCorruptedError(forKey: .mode, in: c, debugDescription: "unknown mode")
        }
        self.mode = mode
        iv = c.contains(.iv) ? try c.decodeBase64URL(.iv) : nil
        wrappedSecret = c.contains(.wrappedSecret) ? try c.decodeBase64URL(.wrappedSecret) : nil
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(keyID, forKey: .keyID)
        try c.encode(mode.rawValue, forKey: .mode)
        try c.encodeIfPresent(iv.map { Base64URL.encode($0) }, forKey: .iv)
        try c.encodeIfPresent(wrappedSecret.map { Base64URL.encode($0) }, forKey: .wrappedSecret)
    }

    var json: JSONText {
        var fields: [(String, JSONText)] = [("keyID", .string(keyID)), ("mode", .string(mode.rawValue))]
        if let iv { fields.append(("iv", .string(Base64URL.encode(iv)))) }
        if let wrappedSecret { fields.append(("wrappedSecret", .string(Base64URL.encode(wrappedSecret)))) }
        return .object(fields)
    }
}

extension VolumeConfig.Epoch: Codable {
    enum Keys: String, CodingKey { case epoch, created, cipher, wrappedKey }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        epoch = try c.decode(UInt32.self, forKey: .epoch)
        created = try c.decode(String.self, forKey: .created)
        let name = try c.decode(String.self, forKey: .cipher)
        guard name == "AES-256-GCM" || name == "AES-192-GCM", let size = AESKeySize(cipherName: name) else {
            throw DecodingError.dataCorruptedError(forKey: .cipher, in: c, debugDescription: "unknown cipher")
        }
        cipher = size
        wrappedKey = try c.decodeBase64URL(.wrappedKey)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(created, forKey: .created)
        try c.encode(cipher.cipherName, forKey: .cipher)
        try c.encode(Base64URL.encode(wrappedKey), forKey: .wrappedKey)
    }
}

extension VolumeConfig.Epoch {
    public var json: JSONText {
        .object([("epoch", .uint(epoch)), ("created", .string(created)), ("cipher", .string(cipher.cipherName)),
                 ("wrappedKey", .string(Base64URL.encode(wrappedKey)))])
    }
}

extension VolumeConfig.Rotation {
    public var json: JSONText {
        var fields: [(String, JSONText)] = [("state", .string(state)), ("done", .uint(done)), ("total", .uint(total))]
        if let toEpoch { fields.append(("toEpoch", .uint(toEpoch))) }
        return .object(fields)
    }
}

extension VolumeConfig.Rotation: Codable {
    enum Keys: String, CodingKey { case state, done, total, toEpoch }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        state = try c.decode(String.self, forKey: .state)
        done = try c.decode(UInt64.self, forKey: .done)
        total = try c.decode(UInt64.self, forKey: .total)
        toEpoch = try c.decodeIfPresent(UInt32.self, forKey: .toEpoch)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(state, forKey: .state)
        try c.encode(done, forKey: .done)
        try c.encode(total, forKey: .total)
        try c.encodeIfPresent(toEpoch, forKey: .toEpoch)
    }
}

extension KeyedDecodingContainer {
    func decodeBase64URL(_ key: Key) throws -> [UInt8] {
        let text = try decode(String.self, forKey: key)
        guard let bytes = Base64URL.decode(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not base64url")
        }
        return bytes
    }
}
