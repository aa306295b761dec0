import Glibc
import TDEFSCore

/// A directory tree that can only be read, served by `ReadOnlyFuseDaemon`: an eCryptfs lower
/// directory seen through its keys (ECryptfsTreeView), for example. A node is named by its path in
/// the tree's own terms (`ReadOnlyTreePath`: for eCryptfs, the lower names); the names the kernel
/// sees are the plaintext names that `list` returns beside each one.
public protocol ReadOnlyTree: AnyObject, Sendable {
    /// The entries of a directory ("." and ".." excluded), each with its attributes.
    func list(_ directory: ReadOnlyTreePath) throws(Errno) -> [ReadOnlyTreeEntry]
    func attributes(_ path: ReadOnlyTreePath) throws(Errno) -> stat
    func readLink(_ path: ReadOnlyTreePath) throws(Errno) -> [UInt8]
    func open(_ path: ReadOnlyTreePath) throws(Errno) -> any ReadOnlyTreeFile
    /// Names of the extended attributes that are served (user.* only).
    func extendedAttributeNames(_ path: ReadOnlyTreePath) throws(Errno) -> [[UInt8]]
    /// One attribute's value; ENODATA when there is none of that name.
    func extendedAttribute(_ path: ReadOnlyTreePath, name: [UInt8]) throws(Errno) -> [UInt8]
    func statfs() throws(Errno) -> statvfs
}

/// A file opened for reading; read may be called from several threads at once.
public protocol ReadOnlyTreeFile: AnyObject, Sendable {
    /// Fills `buffer` from `offset`; fewer bytes only at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int
}

/// A node's components from the tree's root (the root is empty).
public typealias ReadOnlyTreePath = [[UInt8]]

public struct ReadOnlyTreeEntry: Sendable {
    /// The name shown through the mount.
    public let name: [UInt8]
    /// The tree's own name of the entry (the last component of its path).
    public let component: [UInt8]
    public let attributes: stat

    public init(name: [UInt8], component: [UInt8], attributes: stat) {
        self.name = name
        self.component = component
        self.attributes = attributes
    }
}
