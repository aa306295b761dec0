import CPlatform
import Glibc
import Synchronization

/// An open directory: a descriptor for fsyncdir and the decrypted listing, taken at opendir and
/// again whenever the listing is read from the start (rewinddir).
public final class OpenDirectory: Sendable {
    public let node: UInt64
    let inode: Inode
    let fd: Int32
    let snapshot = Mutex<[DirectoryEntry]?>(nil)

    init(inode: Inode, fd: Int32) {
        node = inode.node
        self.inode = inode
        self.fd = fd
    }

    deinit { close(fd) }
}

extension FileSystem {
    public func opendir(_ node: UInt64) throws(Errno) -> OpenDirectory {
        let inode = try inodes.get(node)
        guard inode.isDirectory else { throw Errno.ENOTDIR }
        let fd = try sys { openat(inode.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        counters.directoryOpened()
        return OpenDirectory(inode: inode, fd: fd)
    }

    public func readdir(_ dir: OpenDirectory, offset: Int64) throws(Errno) -> ArraySlice<DirectoryEntry> {
        var entries = dir.snapshot.withLock { $0 }
        if entries == nil || offset == 0 {
            entries = try inDirectory(dir.inode) { () throws(Errno) in try listing(of: dir.inode) }
            dir.snapshot.withLock { $0 = entries }
        }
        let all = entries!
        let start = Int(max(0, min(offset, Int64(all.count))))
        return all[start...]
    }

    /// For READDIRPLUS: looks up a listed entry by its backing name (no name encryption), counting
    /// one lookup as lookup() does. The caller forgets it if the entry does not reach the kernel.
    /// Above the inode high-water mark (near the open-file limit, see onInodePressure), or out of
    /// descriptors, it fails at once: the entry then goes without attributes, a later lookup
    /// registers it, and a listing cannot take the descriptors that lookups need.
    public func lookup(_ entry: DirectoryEntry, in dir: OpenDirectory) throws(Errno) -> Entry {
        guard !entry.isDotOrDotDot, !entry.backingName.isEmpty else { throw Errno.EINVAL }
        if inodes.aboveHighWater { throw Errno(EMFILE) }
        return try inDirectory(dir.inode) { () throws(Errno) -> Entry in
            if let known = try lookUpKnown(entry, in: dir.inode) { return known }
            return try register(backing: entry.backingName, in: dir.inode, name: entry.name, waitingForRoom: false)
        }
    }

    /// readdirplus over entries the kernel already knows (a second `ls -l`, `rm -rf` after a read):
    /// the listing's inode number finds the inode, and one fstatat (which must name the same
    /// object) gives fresh attributes, instead of opening the entry again only to close the
    /// duplicate descriptor. nil when the inode is not known (or the entry changed): register then.
    private func lookUpKnown(_ entry: DirectoryEntry, in dir: Inode) throws(Errno) -> Entry? {
        let key = InodeKey(dev: dir.key.dev, ino: entry.inode)
        guard inodes.find(key) != nil else { return nil }
        var st = stat()
        guard fstatat(dir.fd, entry.backingName, &st, AT_SYMLINK_NOFOLLOW) == 0,
              InodeKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino)) == key,
              let inode = inodes.lookUpAgain(key, location: InodeLocation(parent: dir.node, name: entry.name,
                                                                            backingName: entry.backingName))
        else { return nil }
        return try self.entry(for: inode, st)
    }

    public func releasedir(_ dir: OpenDirectory) { counters.directoryReleased() }

    public func fsyncdir(_ dir: OpenDirectory, dataOnly: Bool) throws(Errno) {
        _ = try sys { dataOnly ? fdatasync(dir.fd) : Glibc.fsync(dir.fd) }
    }

    /// ".", "..", then every user entry with its plaintext name; undecryptable entries are logged
    /// and left out.
    func listing(of dir: Inode) throws(Errno) -> [DirectoryEntry] {
        let iv = try directoryIV(of: dir)
        let keys = try nameKeys(for: iv)
        var st = stat()
        _ = try sys { fstatat(dir.fd, "", &st, tdefs_AT_EMPTY_PATH) }
        var out: [DirectoryEntry] = [
            DirectoryEntry(name: ".", inode: UInt64(st.st_ino), type: UInt8(DT_DIR), offset: 1),
            DirectoryEntry(name: "..", inode: UInt64(st.st_ino), type: UInt8(DT_DIR), offset: 2),
        ]
        try BackingEntries.forEachEntry(directoryFD: dir.fd) { backing, ino, type in
            if let name = plaintextName(ofBacking: backing, in: dir, iv: iv, keys: keys) {
                out.append(DirectoryEntry(name: name, inode: ino, type: type, offset: Int64(out.count + 1), backingName: backing))
            }
            return true
        }
        return out
    }
}
