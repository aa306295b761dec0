import Glibc

/// Creating, reading and unlocking a volume's tdefs.conf (docs/format.md).
public enum Volume {
    public static let configName = VolumeConfig.fileName
    public static let lockName = "tdefs.lock"
    static let configMode: mode_t = 0o600
    static let configLimit = 1 << 20


    /// Makes a new volume in `backingPath`, which must be empty or missing (it is then created, with
    /// its parents, mode 0700). Writes the root tdefs.diriv (epoch 1) and then tdefs.conf.
    /// `secret` is the key material as `kdf` expects it (see KeySecret.material(for:)); a kmip
    /// volume passes the record of its server-held key and the volume ID that key was named for.
    @discardableResult
    public static func create(backingPath: String, secret: SecureBytes, kdf: VolumeConfig.KeyDerivation,
                              cipher: AESKeySize = .aes256,
                              scrypt: KDF.ScryptParameters = .standard,
                              formatVersion: Int = VolumeConfig.formatVersion,
                              volumeID: [UInt8] = Random.bytes(VolumeConfig.volumeIDBytes),
                              kmip: KMIPRecord? = nil, pkcs11: PKCS11Record? = nil,
                              profile: VolumeProfile? = .database) throws(VolumeError) -> VolumeConfig {
        try makeDirectory(backingPath)
        let dir = try BackingDirectory(path: backingPath)
        guard try dir.isEmpty() else {
            if case .some(.some) = try? dir.readFile(configName, limit: configLimit) {
                throw .alreadyAVolume(path: backingPath)
            }
            throw .notEmpty(path: backingPath)
        }
        let keySource = VolumeConfig.KeySource(kdf: kdf, salt: Random.bytes(VolumeConfig.saltBytes),
                                               scrypt: kdf == .scrypt ? scrypt : nil, kmip: kdf == .kmip ? kmip : nil,
                                               pkcs11: kdf == .pkcs11 ? pkcs11 : nil)
        if let why = VolumeConfig.keySourceProblem(keySource) { throw .corruptConfig(path: backingPath, detail: why) }
        if kdf == .scrypt, let why = VolumeConfig.scryptProblem(scrypt) {
            throw .corruptConfig(path: backingPath, detail: why)
        }
        guard let kek = VolumeCrypto.deriveKEK(secret: secret, keySource: keySource) else {
            throw .corruptConfig(path: backingPath, detail: "key derivation failed")
        }
        let master = SecureBytes.random(count: VolumeCrypto.masterKeyBytes)
        let now = timestamp()
        let wrapped = VolumeCrypto.wrap(masterKey: master, kek: kek, volumeID: volumeID, epoch: 1, cipher: cipher)
        var config = VolumeConfig(volumeID: volumeID, created: now, keySource: keySource, currentEpoch: 1,
                                  epochs: [.init(epoch: 1, created: now, cipher: cipher, wrappedKey: wrapped)])
        config.formatVersion = formatVersion
        config.profile = profile
        try VolumeConfigSeal.seal(&config, kek: kek, path: backingPath)
        do {
            let keys = EpochKeys(epoch: 1, size: cipher, masterKey: master, volumeID: volumeID)
            try DirectoryIV.random(keys: keys, version: FormatVersions.directoryIV(forVolume: formatVersion)).write(directoryFD: dir.fd)
        } catch {
            throw .io(path: backingPath + "/" + DirectoryIV.fileName, operation: "create", errno: error)
        }
        try dir.writeFileAtomically(configName, bytes: config.encoded(), mode: configMode)
        return config
    }

    /// Reads and checks tdefs.conf. `.backingMissing`, `.notAVolume`, `.corruptConfig` or
    /// `.unsupportedVersion` when it cannot be used.
    public static func loadConfig(backingPath: String) throws(VolumeError) -> VolumeConfig {
        let dir = try BackingDirectory(path: backingPath)
        return try loadConfig(dir)
    }

    static func loadConfig(_ dir: BackingDirectory) throws(VolumeError) -> VolumeConfig {
        let bytes: [UInt8]?
        do {
            bytes = try dir.readFile(configName, limit: configLimit)
        } catch {
            if case .io(_, _, let e) = error, e == .EFBIG {
                throw .corruptConfig(path: dir.path, detail: "tdefs.conf is larger than 1 MiB")
            }
            throw error
        }
        guard let bytes else { throw .notAVolume(path: dir.path) }
        return try VolumeConfig.parse(bytes, path: dir.path)
    }

    /// Replaces tdefs.conf atomically (mode 0600). The caller holds the volume's lock.
    public static func saveConfig(_ config: VolumeConfig, backingPath: String) throws(VolumeError) {
        if let why = config.problem() { throw .corruptConfig(path: backingPath, detail: why) }
        let dir = try BackingDirectory(path: backingPath)
        try dir.writeFileAtomically(configName, bytes: config.encoded(), mode: configMode)
    }

    /// Loads tdefs.conf and opens every epoch's master key with `secret` (key material as the
    /// volume's KDF expects it). `.wrongKey` when the current epoch's key does not open.
    public static func unlock(backingPath: String, secret: SecureBytes) throws(VolumeError) -> (VolumeConfig, Keyring) {
        let config = try loadConfig(backingPath: backingPath)
        return (config, try unlock(config: config, secret: secret, path: backingPath))
    }

    /// Opens every epoch of an already loaded configuration.
    /// `secret` is the input of slot 0's KDF (`keySource`); the other slots are tried by the CLI.
    public static func unlock(config: VolumeConfig, secret: SecureBytes, path: String) throws(VolumeError) -> Keyring {
        guard config.problem() == nil else { throw .corruptConfig(path: path, detail: config.problem() ?? "") }
        guard let kek = KeySlots.kek(of: config.keySource, material: secret, volumeID: config.volumeID) else {
            if config.keySource.wrappedKEK != nil { throw .wrongKey(path: path) }
            throw .corruptConfig(path: path, detail: "key derivation failed")
        }
        return try unlock(config: config, kek: kek, path: path)
    }

    /// Opens every epoch with the key-encryption key, and checks the configuration's seal.
    public static func unlock(config: VolumeConfig, kek: SecureBytes, path: String) throws(VolumeError) -> Keyring {
        // The current epoch first: failing it means the key is wrong.
        let ordered = config.epochs.filter { $0.epoch == config.currentEpoch } + config.epochs.filter { $0.epoch != config.currentEpoch }
        var keys: [EpochKeys] = []
        var sealedRecords = false
        for record in ordered {
            guard let (master, sealed) = VolumeCrypto.unwrapRecord(record.wrappedKey, kek: kek, volumeID: config.volumeID,
                                                                   epoch: record.epoch, cipher: record.cipher) else {
                if record.epoch == config.currentEpoch { throw .wrongKey(path: path) }
                throw .corruptConfig(path: path, detail: "the key of epoch \(record.epoch) does not open (damaged record)")
            }
            sealedRecords = sealedRecords || sealed
            keys.append(EpochKeys(epoch: record.epoch, size: record.cipher, masterKey: master, volumeID: config.volumeID))
        }
        // The key opens the records; now the whole configuration must be the one tdefs wrote.
        try VolumeConfigSeal.check(config, kek: kek, sealedRecords: sealedRecords, path: path)
        return Keyring(volumeID: config.volumeID, currentEpoch: config.currentEpoch, epochs: keys)
    }

    /// The time now as "2026-11-22T12:00:00Z".
    public static func timestamp(_ t: time_t = time(nil)) -> String {
        var t = t
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func d2(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(d2(tm.tm_mon + 1))-\(d2(tm.tm_mday))T\(d2(tm.tm_hour)):\(d2(tm.tm_min)):\(d2(tm.tm_sec))Z"
    }

    /// mkdir -p; the last component gets mode 0700, missing parents 0755.
    static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws(VolumeError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw .backingMissing(path: path) }
            return
        }
        guard errno == ENOENT else { throw .io(path: path, operation: "stat", errno: .current) }
        let parent = parentPath(path)
        if parent != path { try makeDirectory(parent, mode: 0o755) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw .io(path: path, operation: "create directory", errno: .current)
        }
    }

    static func parentPath(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        if slash == p.startIndex { return "/" }
        return String(p[..<slash])
    }
}
