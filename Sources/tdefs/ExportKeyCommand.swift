import ArgumentParser
import Glibc
import TDEFSCore

/// tdefs export-key BACKING [KEY] --epoch N (--to-key-file P | --to-passphrase-file P) [--output FILE]
struct ExportKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-key",
        abstract: "Write one epoch's master key out, wrapped under a secret you choose, as a tdefs.conf.",
        usage: Synopsis.usage(Synopsis.exportKey),
        discussion: """
            The output is a tdefs.conf holding only that epoch. To mount a backup of the backing \
            directory taken while that epoch was current, put the output in the backup as its \
            tdefs.conf and mount it with the chosen key file or passphrase file.
            """)

    @Argument(help: ArgumentHelp("The backing directory, or the mountpoint of a mounted volume.", valueName: "backing|mountpoint"))
    var path: String

    @OptionGroup var key: KeyOptions

    @Option(help: "The epoch to export.")
    var epoch: UInt32

    @Option(name: .customLong("to-key-file"), help: ArgumentHelp("Wrap under this key file.", valueName: "path"))
    var toKeyFile: String?

    @Option(name: .customLong("to-passphrase-file"), help: ArgumentHelp("Wrap under this passphrase file.", valueName: "path"))
    var toPassphraseFile: String?

    @Option(help: ArgumentHelp("Write the exported tdefs.conf here (mode 0600, must not exist) instead of standard output.", valueName: "path"))
    var output: String?

    @OptionGroup var scryptCost: ScryptCostOption

    func validate() throws {
        if (toKeyFile == nil) == (toPassphraseFile == nil) {
            throw ValidationError("give exactly one of --to-key-file, --to-passphrase-file")
        }
    }

    func run() throws {
        let backing = VolumeLocator.locate(path).backingPath
        let config = try Volume.loadConfig(backingPath: backing)
        let (keyring, _) = try KeyLifecycle.unlock(key, config: config, backing: backing)
        guard let keys = keyring.epoch(epoch), let record = config.epoch(epoch) else {
            throw CLIError(.failure, "\(backing) has no key epoch \(epoch)")
        }
        let source: KeySource = toKeyFile.map { .keyFile($0) } ?? .passphraseFile(toPassphraseFile!)
        let keySource = try KeyLifecycle.newKeySource(for: source, cost: scryptCost)
        let kek = try KeyLifecycle.kek(from: source, keySource: keySource)
        let wrapped = VolumeCrypto.wrap(masterKey: keys.masterKey, kek: kek, volumeID: config.volumeID, epoch: epoch, cipher: record.cipher)
        var exported = VolumeConfig(volumeID: config.volumeID, created: config.created, keySource: keySource, currentEpoch: epoch,
                                    epochs: [.init(epoch: epoch, created: record.created, cipher: record.cipher, wrappedKey: wrapped)])
        exported.profile = config.profile
        try VolumeConfigSeal.seal(&exported, kek: kek, path: output ?? "the exported tdefs.conf")
        let bytes = exported.encoded()
        if let output {
            let fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CLIError(.failure, "cannot create \(output): \(Errno.current)") }
            defer { close(fd) }
            guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count, fsync(fd) == 0 else {
                throw CLIError(.failure, "cannot write \(output): \(Errno.current)")
            }
        } else {
            Console.put(1, String(decoding: bytes, as: UTF8.self))
        }
        try KeyLifecycle.audit(.exportKey, config: config, backing: backing, epoch: epoch)
    }
}
