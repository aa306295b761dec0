import TDEFSCore

/// The checks every mount makes of its mountpoint, whatever it serves (a volume, an eCryptfs
/// lower directory): not a tdefs mount already (15), an existing directory (13), neither inside
/// the source nor containing it (13), empty unless `-o nonempty` (13).
enum MountpointCheck {
    /// The resolved mountpoint. `sourcePath` is resolved; `what` names it in the message.
    static func resolve(_ mountpoint: String, source sourcePath: String, what: String, nonempty: Bool,
                        mounts: [MountEntry]) throws(CLIError) -> String {
        if let existing = VolumeLocator.tdefsMount(at: mountpoint, in: mounts) {
            throw CLIError(.alreadyMounted, "\(existing.mountPoint) is already a tdefs mount (of \(existing.source))")
        }
        guard let mountPath = Paths.resolved(mountpoint), Paths.isDirectory(mountPath) else {
            throw CLIError(.mountFailed, "mountpoint \(mountpoint) does not exist or is not a directory")
        }
        if mountPath == sourcePath || mountPath.hasPrefix(sourcePath + "/") || sourcePath.hasPrefix(mountPath + "/") {
            throw CLIError(.mountFailed, "the mountpoint and the \(what) must not contain each other")
        }
        if !nonempty && Paths.hasEntries(mountPath) {
            throw CLIError(.mountFailed, "mountpoint \(mountPath) is not empty (use -o nonempty to mount over it)")
        }
        return mountPath
    }
}
