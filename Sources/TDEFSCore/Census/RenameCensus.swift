import Glibc

/// What a rename changes in the census (see LiveCensus), classified before the backing rename:
/// the entry it replaces, and, when the entry moves between a directory a walk has scanned and
/// one it has not, the moved entries themselves.
struct RenameCensus {
    let fs: FileSystem
    let from: Inode, to: Inode
    let source: String, destination: String
    let replaced: CensusEntry?
    let moved: CensusEntry?
    /// The entry that moves the other way in an exchange.
    let returned: CensusEntry?
    let movedDirectory: InodeKey?
    let returnedDirectory: InodeKey?

    init(_ fs: FileSystem, from: Inode, src: String, _ srcSt: stat, to: Inode, dst: String, _ dstSt: stat?, exchange: Bool) {
        self.fs = fs
        self.from = from
        self.to = to
        source = src
        destination = dst
        replaced = dstSt != nil && !exchange ? fs.census.entry(in: to, name: dst, rootFD: fs.rootFD) : nil
        let across = from !== to
        let classify = across && fs.census.needsEntry(from: from, to: to)
        moved = classify ? CensusEntry.classify(parentFD: from.fd, name: src, rootFD: fs.rootFD) : nil
        returned = classify && exchange && dstSt != nil ? CensusEntry.classify(parentFD: to.fd, name: dst, rootFD: fs.rootFD) : nil
        func directoryKey(_ st: stat?) -> InodeKey? {
            guard across, let st, st.st_mode & S_IFMT == S_IFDIR else { return nil }
            return InodeKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
        }
        movedDirectory = directoryKey(srcSt)
        returnedDirectory = exchange ? directoryKey(dstSt) : nil
    }

    /// After the backing rename succeeded.
    func renamed(newName: String, oldName: String) {
        fs.census.removed(replaced, in: to)
        fs.census.moved(moved, from: from, to: to)
        fs.census.moved(returned, from: to, to: from)
        if let key = movedDirectory {
            fs.census.movedDirectory(key: key, into: to) {
                try? fs.register(backing: destination, in: to, name: newName, waitingForRoom: false).node
            }
        }
        if let key = returnedDirectory {
            fs.census.movedDirectory(key: key, into: from) {
                try? fs.register(backing: source, in: from, name: oldName, waitingForRoom: false).node
            }
        }
    }
}
