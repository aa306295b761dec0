import CPlatform
import Glibc

/// The lock on a backing file's header that every header replacement of an existing file takes:
/// the CLI's rewrap (read, rewrap, write) and the daemon's re-key (switch to the new file key).
/// It is an open-file-description lock on the header's bytes, so it excludes across processes
/// (the CLI and the daemon) and across descriptors within one. Without it, a rewrap that read the
/// header before a re-key switched it would write the replaced file key back.
public enum HeaderLock {
    public static func withLock<T>(fd: Int32, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        while tdefs_ofd_lock_range(fd, 1, Int64(FileHeader.byteCount)) != 0 {
            guard errno == EINTR else { throw Errno(errno) }
        }
        defer { _ = tdefs_ofd_lock_range(fd, 0, Int64(FileHeader.byteCount)) }
        return try body()
    }
}
