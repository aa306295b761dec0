import ArgumentParser
import TDEFSCore

/// tdefs retire BACKING [KEY] --epoch N
struct RetireCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire",
        abstract: "Remove a key epoch that no file, directory or symlink uses any more (see status).",
        usage: Synopsis.usage(Synopsis.retire),
        discussion: "Export the key first (tdefs export-key) if backups taken before the rotation must stay readable.")

    @Argument(help: ArgumentHelp("The backing directory, or the mountpoint of a mounted volume.", valueName: "backing|mountpoint"))
    var path: String

    @OptionGroup var key: KeyOptions

    @Option(help: "The epoch to remove.")
    var epoch: UInt32

    func run() throws {
        let located = VolumeLocator.locate(path)
        let backing = located.backingPath
        let config = try Volume.loadConfig(backingPath: backing)
        _ = try KeyLifecycle.unlock(key, config: config, backing: backing)
        guard config.epoch(epoch) != nil else { throw CLIError(.failure, "\(backing) has no key epoch \(epoch)") }
        guard epoch != config.currentEpoch else { throw CLIError(.failure, "epoch \(epoch) is the current epoch") }
        guard config.rotation == nil else { throw CLIError(.failure, "a rotation is in progress; finish it with tdefs rotate") }
        let census = try VolumeCensus.count(backingPath: backing, currentEpoch: config.currentEpoch)
        guard census.uses(of: epoch) == 0 else {
            throw CLIError(.failure, "epoch \(epoch) still protects \(census.filesPerEpoch[epoch, default: 0]) file(s), "
                + "\(census.directoriesPerEpoch[epoch, default: 0]) directory name set(s) and "
                + "\(census.symlinksPerEpoch[epoch, default: 0]) symlink(s); run tdefs rotate --reencrypt first")
        }
        let updated = try ConfigTransaction.update(backingPath: backing) { c in
            guard c.currentEpoch != epoch else { throw CLIError(.failure, "epoch \(epoch) became current meanwhile") }
            c.epochs.removeAll { $0.epoch == epoch }
        }
        if KeyLifecycle.isMounted(located) {
            _ = ControlClient.send(ControlRequest(op: .retire, epoch: epoch), volumeID: config.volumeID)
        }
        KeyLifecycle.audit("retire", config: updated, backing: backing, epoch: epoch)
        Console.out("tdefs: retired key epoch \(epoch) of \(backing)")
    }
}
