import ArgumentParser
import TDEFSCore

enum CipherChoice: String, ExpressibleByArgument, CaseIterable {
    case aes256 = "aes-256-gcm"
    case aes192 = "aes-192-gcm"
    var size: AESKeySize { self == .aes256 ? .aes256 : .aes192 }
}

/// tdefs init BACKING [KEY] [--cipher aes-256-gcm|aes-192-gcm]
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new volume in an empty (or missing) backing directory.",
        usage: Synopsis.usage(Synopsis.initVolume))

    @Argument(help: ArgumentHelp("The backing directory that will hold the encrypted files.", valueName: "backing"))
    var backing: String

    @OptionGroup var key: KeyOptions

    @Option(help: "Content cipher of the volume's first key epoch (aes-192-gcm is for legacy volumes).")
    var cipher: CipherChoice = .aes256

    @OptionGroup var profile: ProfileOption

    @OptionGroup var scryptCost: ScryptCostOption

    @Option(help: ArgumentHelp("Volume format (1: what releases before format 2 read; 2 detects zeroed and cut ciphertext; 3, the default, also authenticates directory IVs and binds directory attributes).",
                               valueName: "1|2|3"))
    var formatVersion: Int = VolumeConfig.formatVersion

    func validate() throws {
        guard (1...VolumeConfig.formatVersion).contains(formatVersion) else {
            throw ValidationError("--format-version must be 1, 2 or \(VolumeConfig.formatVersion)")
        }
        if formatVersion < 3 && profile.profile == .database {
            throw ValidationError("a format \(formatVersion) volume records no profile (so that the releases it is for can read its tdefs.conf) "
                                  + "and serves user.* extended attributes: mount it with -o noxattr instead")
        }
    }

    /// What tdefs.conf records: the asked-for profile or database; nothing for formats 1 and 2,
    /// which are for releases that read no profile (such a volume counts as general).
    var recordedProfile: VolumeProfile? { formatVersion < 3 ? nil : profile.profile ?? .database }

    func run() throws {
        try KeyLifecycle.checkAuditable()
        let path = Paths.absolute(backing)
        // Refused before a key server is asked to make a key for it.
        if Paths.isDirectory(path) && Paths.hasEntries(path) {
            throw CLIError.from(Paths.exists(path + "/" + VolumeConfig.fileName) ? VolumeError.alreadyAVolume(path: path) : VolumeError.notEmpty(path: path))
        }
        let volumeID = Random.bytes(VolumeConfig.volumeIDBytes)
        let newKey = try key.newVolumeKey(volumeID: volumeID)
        let config: VolumeConfig
        do {
            let scrypt = newKey.kdf == .scrypt ? try scryptCost.parameters() : .standard
            config = try Volume.create(backingPath: path, secret: newKey.material, kdf: newKey.kdf, cipher: cipher.size, scrypt: scrypt,
                                       formatVersion: formatVersion, volumeID: volumeID, kmip: newKey.kmip, pkcs11: newKey.pkcs11,
                                       profile: recordedProfile)
        } catch {
            newKey.discardCreatedKey(unlessRecordedIn: path)
            throw error
        }
        try KeyLifecycle.audit(.initialized, config: config, backing: path, epoch: config.currentEpoch,
                           [("cipher", cipher.size.cipherName)] + newKey.auditDetails)
        let kmip = newKey.kmip.map { ", KMIP key \($0.keyID) on \(newKey.server?.endpoint ?? "")" }
            ?? newKey.pkcs11.map { ", wrapped by \($0.uri)" } ?? ""
        Console.out("tdefs: created volume \(Base64URL.encode(config.volumeID)) in \(path) "
            + "(\(cipher.size.cipherName), key derivation \(newKey.kdf.rawValue)\(kmip), profile \(config.effectiveProfile.rawValue))")
    }
}
