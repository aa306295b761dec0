import ArgumentParser
import Glibc
import TDEFSCore

/// tdefs unmount MOUNTPOINT: fusermount3 -u, then wait for the daemon to let go of the volume.
struct UnmountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmount",
        abstract: "Unmount a tdefs mount and wait for its daemon to finish.",
        usage: Synopsis.usage(Synopsis.unmount))

    @Argument(help: ArgumentHelp("The mountpoint.", valueName: "mountpoint"))
    var mountpoint: String

    /// How long to wait for the daemon to release tdefs.lock after the kernel unmounted.
    static let daemonWaitSeconds = 30.0

    func run() throws {
        guard let mount = VolumeLocator.tdefsMount(at: mountpoint) else {
            throw CLIError(.notMounted, "\(mountpoint) is not a tdefs mount")
        }
        guard let status = Subprocess.run(["fusermount3", "-u", "--", mount.mountPoint]) else {
            throw CLIError(.failure, "cannot run fusermount3 (is the fuse3 package installed?)")
        }
        guard status == 0 else {
            throw CLIError(.failure, "could not unmount \(mount.mountPoint) (fusermount3 exit status \(status)); is it busy?")
        }
        // The daemon flushes and closes the backing files after the kernel lets go; it holds the
        // lock until then. Waiting makes "unmount; mount" and backups right after safe.
        if !VolumeLock.waitUntilReleased(backingPath: mount.source, seconds: Self.daemonWaitSeconds) {
            Console.warn("warning: unmounted, but the daemon for \(mount.source) is still running")
        }
    }
}
