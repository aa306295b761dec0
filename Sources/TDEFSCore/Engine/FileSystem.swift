import Glibc
import Logging

/// The filesystem engine: POSIX semantics over an encrypted backing directory, called by the FUSE
/// adapter (and by tests directly). Node 1 is the root. All methods are thread-safe.
public final class FileSystem: Sendable {
    public static let rootNode: UInt64 = 1

    public init(backingPath: String, keyring: Keyring, options: EngineOptions = EngineOptions(),
                logger: Logger) throws(Errno) {
        throw Errno(ENOSYS)
    }

    public func lookup(parent: UInt64, name: String) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    public func forget(_ node: UInt64, count: UInt64) {}
    public func getattr(_ node: UInt64) throws(Errno) -> stat { throw Errno(ENOSYS) }
    public func setattr(_ node: UInt64, file: OpenFile?, _ changes: AttributeChanges) throws(Errno) -> stat { throw Errno(ENOSYS) }
    public func readlink(_ node: UInt64) throws(Errno) -> String { throw Errno(ENOSYS) }
    public func mknod(parent: UInt64, name: String, mode: mode_t, rdev: dev_t, context: RequestContext) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    public func mkdir(parent: UInt64, name: String, mode: mode_t, context: RequestContext) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    public func unlink(parent: UInt64, name: String) throws(Errno) { throw Errno(ENOSYS) }
    public func rmdir(parent: UInt64, name: String) throws(Errno) { throw Errno(ENOSYS) }
    public func symlink(target: String, parent: UInt64, name: String, context: RequestContext) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    /// flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
    public func rename(parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32) throws(Errno) { throw Errno(ENOSYS) }
    public func link(_ node: UInt64, newParent: UInt64, newName: String) throws(Errno) -> Entry { throw Errno(ENOSYS) }

    /// Opens a regular file; `flags` are open(2)'s.
    public func open(_ node: UInt64, flags: Int32) throws(Errno) -> OpenFile { throw Errno(ENOSYS) }
    public func create(parent: UInt64, name: String, mode: mode_t, flags: Int32, context: RequestContext) throws(Errno) -> (Entry, OpenFile) { throw Errno(ENOSYS) }
    /// Reads up to buffer.count bytes at offset; returns the count (0 at end of file).
    public func read(_ file: OpenFile, offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int { throw Errno(ENOSYS) }
    /// Writes all of `data` at offset (at the end of file for O_APPEND handles); returns the count.
    public func write(_ file: OpenFile, offset: Int64, from data: UnsafeRawBufferPointer) throws(Errno) -> Int { throw Errno(ENOSYS) }
    public func flush(_ file: OpenFile) throws(Errno) {}
    public func release(_ file: OpenFile) {}
    public func fsync(_ file: OpenFile, dataOnly: Bool) throws(Errno) { throw Errno(ENOSYS) }
    /// mode as fallocate(2): 0 and FALLOC_FL_KEEP_SIZE are supported.
    public func fallocate(_ file: OpenFile, mode: Int32, offset: Int64, length: Int64) throws(Errno) { throw Errno(ENOSYS) }

    public func opendir(_ node: UInt64) throws(Errno) -> OpenDirectory { throw Errno(ENOSYS) }
    /// Entries after cookie `offset` (0 = from the start, "." and ".." included).
    public func readdir(_ dir: OpenDirectory, offset: Int64) throws(Errno) -> ArraySlice<DirectoryEntry> { throw Errno(ENOSYS) }
    public func releasedir(_ dir: OpenDirectory) {}
    public func fsyncdir(_ dir: OpenDirectory, dataOnly: Bool) throws(Errno) { throw Errno(ENOSYS) }

    public func statfs(_ node: UInt64) throws(Errno) -> statvfs { throw Errno(ENOSYS) }

    /// Names are full names ("user.foo"); only user.* is supported.
    public func setxattr(_ node: UInt64, name: String, value: UnsafeRawBufferPointer, flags: Int32) throws(Errno) { throw Errno(ENOSYS) }
    public func getxattr(_ node: UInt64, name: String) throws(Errno) -> [UInt8] { throw Errno(ENOSYS) }
    public func listxattr(_ node: UInt64) throws(Errno) -> [String] { throw Errno(ENOSYS) }
    public func removexattr(_ node: UInt64, name: String) throws(Errno) { throw Errno(ENOSYS) }

    /// Called once when the filesystem is unmounted.
    public func destroy() {}
}

/// An open regular file (the FUSE file handle).
public final class OpenFile: Sendable {
    public let node: UInt64
    init(node: UInt64) { self.node = node }
}

/// An open directory with its entry snapshot (the FUSE directory handle).
public final class OpenDirectory: Sendable {
    public let node: UInt64
    init(node: UInt64) { self.node = node }
}
