import TDEFSCore

/// Finds the backing directory and the mount of a path given as BACKING or MOUNTPOINT.
struct LocatedVolume {
    var backingPath: String
    var mount: MountEntry?
}

enum VolumeLocator {
    /// A tdefs mountpoint maps to its backing directory (the mount's source); anything else is
    /// taken as a backing directory, whose mount (if any) is looked up by source.
    static func locate(_ path: String) -> LocatedVolume {
        let mounts = MountTable.read()
        if let m = tdefsMount(at: path, in: mounts) {
            return LocatedVolume(backingPath: m.source, mount: m)
        }
        let backing = Paths.resolved(path) ?? Paths.absolute(path)
        return LocatedVolume(backingPath: backing, mount: MountTable.tdefsMount(ofBacking: backing, in: mounts))
    }

    /// The tdefs mount at `path`: compared lexically first (no access to a possibly hung mount),
    /// then after resolving symlinks.
    static func tdefsMount(at path: String, in mounts: [MountEntry] = MountTable.read()) -> MountEntry? {
        if let m = MountTable.tdefsMount(at: Paths.absolute(path), in: mounts) { return m }
        if let r = Paths.resolved(path), let m = MountTable.tdefsMount(at: r, in: mounts) { return m }
        return nil
    }
}
