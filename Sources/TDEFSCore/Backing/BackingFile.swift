import Glibc

/// Opens files that tdefs reads in the backing directory (IV files, long-name and symlink-target
/// side files, headers, tdefs.conf, the locks, the import journal). Whoever can write the backing
/// directory may have put something else under such a name: a FIFO (an open for reading waits
/// forever for a writer), a device node (an open runs its driver), a socket or a symlink. Only a
/// regular file is ever opened, without blocking and without following a symlink.
public enum BackingFile {
    /// Opens regular file `name` in directory `dirFD` with `flags` (O_RDONLY by default; O_RDWR and
    /// O_CREAT for the locks) plus O_NOFOLLOW, O_NONBLOCK, O_NOCTTY and O_CLOEXEC. The type is
    /// checked before the open (no driver's open runs for a device node) and again on the
    /// descriptor (nothing swapped in between). O_NONBLOCK stays set: on a regular file it changes
    /// nothing (reads, writes and locks behave the same), and clearing it would cost two fcntl calls
    /// per open. Throws ENOENT when it is missing, EIO when it is not a regular file, the open's
    /// errno otherwise. Pass `cloexec: false` for a descriptor a child inherits (the daemon's lock).
    public static func open(_ name: String, in dirFD: Int32, flags: Int32 = O_RDONLY, mode: mode_t = 0o600,
                            cloexec: Bool = true) throws(Errno) -> Int32 {
        var st = stat()
        if fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            guard isRegular(st) else { throw Errno.EIO }
        } else if errno != ENOENT || flags & O_CREAT == 0 {
            throw Errno.current
        }
        return try openChecked(name, in: dirFD, flags: flags, mode: mode, cloexec: cloexec)
    }

    /// Like `open`, for a caller whose own fstatat (AT_SYMLINK_NOFOLLOW) of `name` has just found a
    /// regular file: the type is checked again on the descriptor only.
    public static func open(regular name: String, in dirFD: Int32) throws(Errno) -> Int32 {
        try openChecked(name, in: dirFD, flags: O_RDONLY, mode: 0, cloexec: true)
    }

    private static func openChecked(_ name: String, in dirFD: Int32, flags: Int32, mode: mode_t,
                                    cloexec: Bool) throws(Errno) -> Int32 {
        let fd = try sys { openat(dirFD, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | (cloexec ? O_CLOEXEC : 0), mode) }
        var st = stat()
        guard fstat(fd, &st) == 0, isRegular(st) else {
            close(fd)
            throw Errno.EIO
        }
        return fd
    }

    static func isRegular(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFREG }

    /// What is at `name` in `dirFD` when it is not a regular file ("a FIFO", "a character device"...),
    /// for an operator's message; nil for a regular file or nothing.
    public static func irregularKind(_ name: String, in dirFD: Int32) -> String? {
        var st = stat()
        guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symlink"
        case S_IFDIR: return "a directory"
        default: return "not a regular file"
        }
    }

    /// Opens tdefs' own file `name` of the backing directory `dir` for the CLI and the daemon's
    /// start: `.notRegularFile` when something else is there, `.io` for other failures.
    public static func open(_ name: String, in dir: BackingDirectory, flags: Int32 = O_RDONLY, cloexec: Bool = true) throws(VolumeError) -> Int32 {
        do throws(Errno) {
            return try open(name, in: dir.fd, flags: flags, cloexec: cloexec)
        } catch {
            if error == .EIO, let kind = irregularKind(name, in: dir.fd) {
                throw .notRegularFile(path: dir.path + "/" + name, kind: kind)
            }
            throw .io(path: dir.path + "/" + name, operation: "open", errno: error)
        }
    }
}
