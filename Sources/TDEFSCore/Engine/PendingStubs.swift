import Glibc

// Temporary: API bodies not written yet (removed one by one as the engine grows).
extension FileSystem {
    public func lookup(parent: UInt64, name: String) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    public func getattr(_ node: UInt64) throws(Errno) -> stat { throw Errno(ENOSYS) }
    public func setattr(_ node: UInt64, file: OpenFile?, _ changes: AttributeChanges) throws(Errno) -> stat { throw Errno(ENOSYS) }
    public func readlink(_ node: UInt64) throws(Errno) -> String { throw Errno(ENOSYS) }
    public func mknod(parent: UInt64, name: String, mode: mode_t, rdev: dev_t, context: RequestContext) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    public func mkdir(parent: UInt64, name: String, mode: mode_t, context: RequestContext) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    public func unlink(parent: UInt64, name: String) throws(Errno) { throw Errno(ENOSYS) }
    public func rmdir(parent: UInt64, name: String) throws(Errno) { throw Errno(ENOSYS) }
    public func symlink(target: String, parent: UInt64, name: String, context: RequestContext) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    public func rename(parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32) throws(Errno) { throw Errno(ENOSYS) }
    public func link(_ node: UInt64, newParent: UInt64, newName: String) throws(Errno) -> Entry { throw Errno(ENOSYS) }
    public func open(_ node: UInt64, flags: Int32) throws(Errno) -> OpenFile { throw Errno(ENOSYS) }
    public func create(parent: UInt64, name: String, mode: mode_t, flags: Int32, context: RequestContext) throws(Errno) -> (Entry, OpenFile) { throw Errno(ENOSYS) }
    public func read(_ file: OpenFile, offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int { throw Errno(ENOSYS) }
    public func write(_ file: OpenFile, offset: Int64, from data: UnsafeRawBufferPointer) throws(Errno) -> Int { throw Errno(ENOSYS) }
    public func flush(_ file: OpenFile) throws(Errno) {}
    public func release(_ file: OpenFile) {}
    public func fsync(_ file: OpenFile, dataOnly: Bool) throws(Errno) { throw Errno(ENOSYS) }
    public func fallocate(_ file: OpenFile, mode: Int32, offset: Int64, length: Int64) throws(Errno) { throw Errno(ENOSYS) }
    public func opendir(_ node: UInt64) throws(Errno) -> OpenDirectory { throw Errno(ENOSYS) }
    public func readdir(_ dir: OpenDirectory, offset: Int64) throws(Errno) -> ArraySlice<DirectoryEntry> { throw Errno(ENOSYS) }
    public func releasedir(_ dir: OpenDirectory) {}
    public func fsyncdir(_ dir: OpenDirectory, dataOnly: Bool) throws(Errno) { throw Errno(ENOSYS) }
    public func statfs(_ node: UInt64) throws(Errno) -> statvfs { throw Errno(ENOSYS) }
    public func setxattr(_ node: UInt64, name: String, value: UnsafeRawBufferPointer, flags: Int32) throws(Errno) { throw Errno(ENOSYS) }
    public func getxattr(_ node: UInt64, name: String) throws(Errno) -> [UInt8] { throw Errno(ENOSYS) }
    public func listxattr(_ node: UInt64) throws(Errno) -> [String] { throw Errno(ENOSYS) }
    public func removexattr(_ node: UInt64, name: String) throws(Errno) { throw Errno(ENOSYS) }
    func symlinkTarget(of inode: Inode) throws(Errno) -> [UInt8] { throw Errno(ENOSYS) }
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
