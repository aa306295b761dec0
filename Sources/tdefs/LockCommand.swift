import ArgumentParser
import Glibc
import TDEFSCore

/// tdefs lock MOUNTPOINT: the daemon drops every key and stops serving at once.
struct LockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Drop a mounted volume's keys now: its daemon stops, and the mount fails every access until it is unmounted.",
        usage: Synopsis.usage(Synopsis.lock),
        discussion: """
            The daemon records a lock audit event, finishes the requests in flight, flushes and exits \
            without unmounting: every access to the mount then fails (ENOTCONN, "Transport endpoint \
            is not connected"), so nothing reaches the directory underneath. Writes the kernel had \
            not yet written back are lost, as in a crash; what was fsynced is on disk. Resume with \
            tdefs unmount MOUNTPOINT and a new tdefs mount with the key.
            """)

    @Argument(help: ArgumentHelp("The mountpoint of a mounted volume.", valueName: "mountpoint"))
    var mountpoint: String

    /// How long to wait for the daemon to exit after it accepted the lock.
    static let daemonWaitSeconds = 30.0

    func run() throws {
        guard let mount = VolumeLocator.tdefsMount(at: mountpoint) else {
            throw CLIError(.notMounted, "\(mountpoint) is not a tdefs mount")
        }
        let config = try Volume.loadConfig(backingPath: mount.source)
        guard let reply = ControlClient.send(ControlRequest(op: .lock), backingPath: mount.source, volumeID: config.volumeID) else {
            throw CLIError(.failure, "the daemon of \(mount.source) does not answer on its control socket (is it running?)")
        }
        guard reply.ok else { throw CLIError(.failure, "the daemon of \(mount.source) refused: \(reply.error ?? "no reason given")") }
        guard VolumeLock.waitUntilReleased(backingPath: mount.source, seconds: Self.daemonWaitSeconds) else {
            throw CLIError(.failure, "the daemon of \(mount.source) accepted the lock but is still running after \(Int(Self.daemonWaitSeconds)) s")
        }
        Console.out("tdefs: locked \(mount.mountPoint): its daemon dropped every key and stopped; every access fails until "
            + "tdefs unmount \(mount.mountPoint) (then mount again with the key)")
    }
}
