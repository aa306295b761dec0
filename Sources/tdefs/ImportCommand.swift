import ArgumentParser
import Glibc
import Logging
import TDEFSCore

/// tdefs import PLAIN_DIR BACKING [KEY]: encrypts an existing, stopped data directory into a new
/// volume; an interrupted import resumes when run again with the same arguments.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Encrypt an existing (stopped) directory into a new volume.",
        usage: Synopsis.usage(Synopsis.importTree),
        discussion: """
            BACKING must be empty or missing (a new volume is created there with the given key), or hold \
            an import that was interrupted (it then resumes). Owners, modes, times, hard links, symlinks, \
            special files and user.* extended attributes are kept. PLAIN_DIR is only read, never changed. \
            Mount the new volume where the data directory was, after moving the plaintext away. \
            With --from-ecryptfs, the source is a stopped eCryptfs lower directory, decrypted in userspace \
            (no kernel module) with the mount passphrase (--ecryptfs-passphrase-file) or ecryptfs-utils' \
            wrapped-passphrase file and the login passphrase; names that do not decrypt and damaged files \
            are refused and listed, two lower names decrypting to one name stop the import, and a wrong \
            passphrase is refused before anything is written. The cipher then follows the source \
            (AES-192 -> aes-192-gcm, AES-128/256 -> aes-256-gcm) unless --cipher is given.
            """)

    @Flag(name: .customLong("from-ecryptfs"), help: "The source is an eCryptfs lower directory (see the --ecryptfs-* options).")
    var fromECryptfs = false

    @OptionGroup var ecryptfsKeys: ECryptfsKeyOptions

    @Argument(help: ArgumentHelp("The plaintext directory to encrypt (its server stopped), or the eCryptfs lower directory.", valueName: "plain-dir"))
    var plainDir: String

    @Argument(help: ArgumentHelp("The backing directory of the new volume.", valueName: "backing"))
    var backing: String

    @OptionGroup var key: KeyOptions

    @Option(help: "Content cipher of a new volume (default aes-256-gcm; for --from-ecryptfs, as the source).")
    var cipher: CipherChoice?

    @OptionGroup var profile: ProfileOption

    func run() throws {
        let source = Paths.absolute(plainDir)
        let path = Paths.absolute(backing)
        guard Paths.isDirectory(source) else { throw CLIError(.usage, "\(source) is not a directory") }
        let s = Paths.resolved(source) ?? source, b = Paths.resolved(path) ?? path
        if b == s || b.hasPrefix(s + "/") || s.hasPrefix(b + "/") {
            throw CLIError(.usage, "the source and the backing directory must not contain each other")
        }
        try KeyLifecycle.checkAuditable()
        if geteuid() != 0 {
            Console.warn("not running as root: files owned by other users keep your ownership, and unreadable files fail")
        }

        let input: ImportSource
        var sourceCipher: CipherChoice?
        if fromECryptfs {
            let keys = try ecryptfsKeys.keys(for: "--from-ecryptfs")
            let ec = try ECryptfsSource(path: source, keys: keys)
            if let kb = try ec.checkKeys() { sourceCipher = kb == 24 ? .aes192 : .aes256 }
            input = ec
        } else {
            if ecryptfsKeys.anyGiven {
                throw CLIError(.usage, "the --ecryptfs-* and --login-passphrase-file options need --from-ecryptfs")
            }
            input = PlainSource(source)
        }
        let cipher = self.cipher ?? sourceCipher ?? .aes256

        var journal = ImportJournal(backing: path)
        let survey = try input.survey()
        let keyring: Keyring
        var resumeAfter = 0
        var formatVersion = VolumeConfig.formatVersion
        var volumeProfile = VolumeProfile.database
        if Paths.isDirectory(path) && journal.exists {
            let (recorded, done) = try journal.load()
            guard recorded == survey else {
                throw CLIError(.failure, "\(path) holds an interrupted import of a different (or since changed) source; "
                               + "remove \(path) and import again")
            }
            let config = try Volume.loadConfig(backingPath: path)
            keyring = try key.openKEK(for: config, backing: path).keyring
            resumeAfter = done
            formatVersion = config.formatVersion
            volumeProfile = config.effectiveProfile
            if let asked = profile.profile, asked != volumeProfile {
                throw CLIError(.usage, "\(path) holds an interrupted import into a volume of profile \(volumeProfile.rawValue): "
                               + "resume it without --profile, or remove \(path) and import again")
            }
            if volumeProfile == .database, let holder = survey.firstAttributeHolder {
                throw CLIError(.usage, "\(holder) has user.* extended attributes, which the interrupted import's volume "
                               + "(profile database) does not keep: remove \(path) and import again")
            }
            Console.error("tdefs: resuming an interrupted import: \(done) of \(survey.entries) entries were done")
        } else {
            if Paths.isDirectory(path) && Paths.hasEntries(path) {
                throw CLIError(.failure, "\(path) is not empty: import needs an empty or missing backing directory "
                               + "(or one holding an interrupted import)")
            }
            let profile = try Self.profile(self.profile.profile, for: survey)
            volumeProfile = profile
            let volumeID = Random.bytes(VolumeConfig.volumeIDBytes)
            let newKey = try key.newVolumeKey(volumeID: volumeID)
            let config: VolumeConfig
            do {
                config = try Volume.create(backingPath: path, secret: newKey.material, kdf: newKey.kdf, cipher: cipher.size,
                                           volumeID: volumeID, kmip: newKey.kmip, pkcs11: newKey.pkcs11, profile: profile)
            } catch {
                newKey.discardCreatedKey(unlessRecordedIn: path)
                throw error
            }
            keyring = try Volume.unlock(config: config, secret: newKey.material, path: path)
            try KeyLifecycle.audit(.initialized, config: config, backing: path, epoch: config.currentEpoch,
                                   [("cipher", cipher.size.cipherName), ("import", "true")] + newKey.auditDetails)
        }
        // Nobody mounts the volume while it is being filled.
        let lock = try VolumeLock(backingPath: path)
        defer { withExtendedLifetime(lock) {} }
        if resumeAfter == 0 && !journal.exists {
            try journal.create(survey)
        } else {
            try journal.reopen()
        }

        var logger = Logger(label: "tdefs.import")
        logger.logLevel = .warning
        let fs = try FileSystem(backingPath: path, keyring: keyring, options: EngineOptions(formatVersion: formatVersion),
                                logger: logger)
        let bar = ProgressBar(label: "import")
        let started = ProgressBar.now()
        let importer = Importer(source: input, backing: path, fs: fs, journal: journal, resumeAfter: resumeAfter,
                                totalBytes: survey.bytes, bar: bar)
        let stats = try importer.run()
        try journal.finish()
        try importer.restoreRootTimes()
        fs.destroy()
        for r in input.refused.prefix(50) { Console.warn("refused: \(r)") }
        if input.refused.count > 50 { Console.warn("... and \(input.refused.count - 50) more refused entries") }
        for w in stats.warnings.prefix(20) { Console.warn(w) }
        if stats.warnings.count > 20 { Console.warn("... and \(stats.warnings.count - 20) more warnings like these") }
        let seconds = max(ProgressBar.now() - started, 0.001)
        Console.out("tdefs: imported \(source) into \(path): \(stats.entries - 1) entries, \(stats.files) files, "
                    + "\(ProgressBar.bytes(stats.bytes)) in \(Int(seconds)).\(Int(seconds * 10) % 10) s"
                    + (stats.skippedEntries > 0 ? " (\(stats.skippedEntries) entries done before the interruption)" : "")
                    + (input.refused.isEmpty ? "" : "; \(input.refused.count) entries refused (listed above)")
                    + "; profile \(volumeProfile.rawValue); the source was not changed. Mount it with: tdefs mount \(path) MOUNTPOINT [KEY]")
    }

    /// A new volume's profile: the one asked for, else general when the source holds user.*
    /// extended attributes (import keeps them) and database when it holds none. A database volume
    /// keeps no attributes, so asking for one over a source that has them is refused up front.
    static func profile(_ asked: VolumeProfile?, for survey: ImportJournal.Source) throws(CLIError) -> VolumeProfile {
        switch (asked, survey.firstAttributeHolder) {
        case (.database?, let holder?):
            throw CLIError(.usage, "\(holder) has user.* extended attributes, which a volume of profile database does not keep: "
                           + "import with --profile general, or remove them from the source first")
        case (let asked?, _): return asked
        case (nil, .some): return .general
        case (nil, nil): return .database
        }
    }
}
