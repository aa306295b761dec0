/// The keys for one eCryptfs lower directory: the mount passphrase and, optionally, a separate
/// FNEK passphrase. Derived keys are computed on demand per salt (the mount key under the salt
/// its tag 3 packets carry, the FNEK under ecryptfs-utils' FNEK salt or, as mount.ecryptfs allows,
/// the mount key itself) and matched by signature, so a wrong passphrase is refused as
/// `ECryptfsError.wrongKey` before any content is decrypted. Everything lives in SecureBytes
/// (locked, zeroed on release). Thread-safe.
public final class ECryptfsKeys: @unchecked Sendable {
    private let mountPassphrase: SecureBytes
    private let fnekPassphrase: SecureBytes?
    private let cache = LockedValue<[String: ECryptfsPassphraseKey]>([:])

    public init(mountPassphrase: SecureBytes, fnekPassphrase: SecureBytes? = nil) {
        self.mountPassphrase = mountPassphrase
        self.fnekPassphrase = fnekPassphrase
    }

    /// From a passphrase file (see ECryptfsSecretFile.passphrase) and an optional FNEK
    /// passphrase file.
    public static func fromPassphraseFile(_ path: String, fnekPassphraseFile: String? = nil) throws(ECryptfsError) -> ECryptfsKeys {
        let p = try ECryptfsSecretFile.passphrase(path)
        let f = try fnekPassphraseFile.map { (f: String) throws(ECryptfsError) in try ECryptfsSecretFile.passphrase(f) }
        return ECryptfsKeys(mountPassphrase: p, fnekPassphrase: f)
    }

    /// From ecryptfs-utils' wrapped-passphrase file and the login passphrase's file.
    public static func fromWrappedPassphrase(_ wrappedPath: String, loginPassphraseFile: String,
                                             fnekPassphraseFile: String? = nil) throws(ECryptfsError) -> ECryptfsKeys {
        let raw = try ECryptfsSecretFile.read(wrappedPath, limit: 256)
        let parsed = try raw.withUnsafeBytes { b throws(ECryptfsError) in try ECryptfsWrappedPassphrase.parse(Array(b), path: wrappedPath) }
        let login = try ECryptfsSecretFile.passphrase(loginPassphraseFile)
        let p = try ECryptfsWrappedPassphrase.unwrap(parsed, loginPassphrase: login, path: wrappedPath)
        let f = try fnekPassphraseFile.map { (f: String) throws(ECryptfsError) in try ECryptfsSecretFile.passphrase(f) }
        return ECryptfsKeys(mountPassphrase: p, fnekPassphrase: f)
    }

    private func derived(_ which: String, _ pass: SecureBytes, salt: [UInt8], iterations: Int) -> ECryptfsPassphraseKey {
        let id = "\(which):\(ECryptfsCrypto.hex(salt)):\(iterations)"
        if let k = cache.withLock({ $0[id] }) { return k }
        let k = ECryptfsPassphraseKey(passphrase: pass, salt: salt, iterations: iterations)
        cache.withLock { $0[id] = k }
        return k
    }

    /// The mount key's signature under the default salt (what `ecryptfs-add-passphrase` prints).
    public var mountSignature: String {
        derived("m", mountPassphrase, salt: ECryptfsPassphraseKey.defaultSalt, iterations: ECryptfsPassphraseKey.defaultIterations).signature
    }

    /// The FNEK signature ecryptfs-utils derives (`ecryptfs-add-passphrase --fnek`'s second line).
    public var fnekSignature: String {
        derived("f", fnekPassphrase ?? mountPassphrase, salt: ECryptfsPassphraseKey.fnekSalt,
                iterations: ECryptfsPassphraseKey.defaultIterations).signature
    }

    /// The FEKEK for a tag 3 packet with this signature, or nil.
    func fekek(for key: ECryptfsPacketSet.PassphraseKey) -> SecureBytes? {
        for (w, p) in [("m", mountPassphrase)] + (fnekPassphrase.map { [("f", $0)] } ?? []) {
            let k = derived(w, p, salt: key.tag3.salt, iterations: key.tag3.hashIterations)
            if k.signature == key.signature { return k.fekek }
        }
        return nil
    }

    /// The FNEK with this signature, or nil.
    func fnek(signature: String) -> SecureBytes? {
        let pass = fnekPassphrase ?? mountPassphrase
        let candidates = [
            derived(fnekPassphrase == nil ? "m" : "f", pass, salt: ECryptfsPassphraseKey.fnekSalt, iterations: ECryptfsPassphraseKey.defaultIterations),
            derived(fnekPassphrase == nil ? "m" : "f", pass, salt: ECryptfsPassphraseKey.defaultSalt, iterations: ECryptfsPassphraseKey.defaultIterations),
        ]
        return candidates.first { $0.signature == signature }?.fekek
    }
}
