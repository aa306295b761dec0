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
        let (_, kek) = try KeyLifecycle.unlock(key, config: config, backing: backing)
        guard config.epoch(epoch) != nil else { throw CLIError(.failure, "\(backing) has no key epoch \(epoch)") }
        guard epoch != config.currentEpoch else { throw CLIError(.failure, "epoch \(epoch) is the current epoch") }
        guard config.rotation == nil else { throw CLIError(.failure, "a rotation is in progress; finish it with tdefs rotate") }
        let census = try VolumeCensus.count(backingPath: backing, currentEpoch: config.currentEpoch)
        guard census.uses(of: epoch) == 0 else {
            throw CLIError(.failure, "epoch \(epoch) still protects \(census.filesPerEpoch[epoch, default: 0]) file(s), "
                + "\(census.directoriesPerEpoch[epoch, default: 0]) directory name set(s) and "
                + "\(census.symlinksPerEpoch[epoch, default: 0]) symlink(s); run tdefs rotate --reencrypt first")
        }
        // A running daemon must take part: it is asked first (tdefs.conf stays as it is when it does
        // not answer, or uses the epoch), and its answer to the retirement is checked.
        let mounted = KeyLifecycle.isMounted(located)
        var daemonGeneration: UInt64?
        if mounted {
            guard let status = ControlClient.send(ControlRequest(op: .status), backingPath: backing, volumeID: config.volumeID), status.ok else {
                throw CLIError(.failure, "\(backing) is mounted but its daemon does not answer on its control socket; "
                    + "nothing was retired (tdefs.conf is unchanged)")
            }
            daemonGeneration = status.configGeneration
            guard status.currentEpoch != epoch else {
                throw CLIError(.failure, "epoch \(epoch) is the current epoch of the daemon serving \(backing); nothing was retired")
            }
        }
        let updated = try ConfigTransaction.update(backingPath: backing, kek: kek) { c in
            try ConfigRollbackCheck.refuse(c, daemonGeneration: daemonGeneration, backing: backing)
            guard c.currentEpoch != epoch else { throw CLIError(.failure, "epoch \(epoch) became current meanwhile") }
            c.epochs.removeAll { $0.epoch == epoch }
        }
        try KeyLifecycle.audit(.retire, config: updated, backing: backing, epoch: epoch)
        if mounted {
            let reply = ControlClient.send(ControlRequest(op: .retire, epoch: epoch, generation: updated.generation), backingPath: backing,
                                           volumeID: config.volumeID)
            guard let reply, reply.ok else {
                let why = reply.map { "refused (\($0.error ?? "no reason given"))" } ?? "did not answer"
                throw CLIError(.failure, "epoch \(epoch) is retired from tdefs.conf, but the daemon serving \(backing) \(why): "
                    + "it keeps that key in memory until the volume is unmounted")
            }
        }
        Console.out("tdefs: retired key epoch \(epoch) of \(backing)")
    }
}
