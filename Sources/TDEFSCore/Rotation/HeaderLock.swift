import CPlatform
import Glibc

/// The lock on a backing file's header that every header replacement of an existing file takes:
/// the CLI's rewrap (read, rewrap, write) and the daemon's re-key (switch to the new file key).
/// It is an open-file-description lock on the header's bytes, so it excludes across processes
/// (the CLI and the daemon) and across descriptors within one. Without it, a rewrap that read the
/// header before a re-key switched it would write the replaced file key back. Readers of a header
/// (the engine loading it, fsck, the census) take it shared: a 96-byte pread racing a 96-byte
/// pwrite of the same bytes may see half of each, which would read as a damaged header.
public enum HeaderLock {
    public static func withLock<T>(fd: Int32, shared: Bool = false, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        while tdefs_ofd_lock_range(fd, shared ? 2 : 1, Int64(FileHeader.byteCount)) != 0 {
            // A reader whose descriptor cannot take the lock (a write-only one: EBADF) reads
            // without it, as before; a writer never writes without it.
            if errno == EINTR { continue }
            if shared { return try body() }
            throw Errno(errno)
        }
        defer { _ = tdefs_ofd_lock_range(fd, 0, Int64(FileHeader.byteCount)) }
        return try body()
    }
}
