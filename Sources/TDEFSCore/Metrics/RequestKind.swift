/// The FUSE requests the adapter serves, as the `op` label of the request metrics.
public enum RequestKind: Int, CaseIterable, Sendable {
    case lookup, forget, getattr, setattr, readlink, mknod, mkdir, unlink, rmdir, symlink, rename, link
    case open, create, read, write, flush, release, fsync, fallocate
    case opendir, readdir, readdirplus, releasedir, fsyncdir, statfs
    case setxattr, getxattr, listxattr, removexattr

    /// FORGET and BATCH_FORGET both count as "forget".
    public var label: String { String(describing: self) }
}
