import CPlatform
import Glibc

extension FileSystem {
    public func lookup(parent: UInt64, name: String) throws(Errno) -> Entry {
        let dir = try inodes.get(parent)
        return try inDirectory(dir) { () throws(Errno) -> Entry in
            let b = try backingName(of: name, in: dir)
            return try register(backing: b.name, in: dir, name: name)
        }
    }

    public func readlink(_ node: UInt64) throws(Errno) -> String {
        let inode = try inodes.get(node)
        guard inode.isSymlink else { throw Errno.EINVAL }
        return String(decoding: try symlinkTarget(of: inode), as: UTF8.self)
    }

    func symlinkTarget(of inode: Inode) throws(Errno) -> [UInt8] {
        if let t = inode.symlinkTarget.withLock({ $0 }) { return t }
        let stored: [UInt8]
        switch try SymlinkTargetStore.read(dirFD: inode.fd, name: "", rootFD: rootFD) {
        case .target(let bytes, _):
            stored = bytes
        case .missingSideFile(let side):
            logger.error("symlink target file is missing", metadata: ["path": "\(path(of: inode))", "file": "\(side)"])
            counters.authenticationFailed(.symlink)
            throw Errno.EIO
        case .damagedSideFile(let side):
            logger.error("symlink target file is damaged", metadata: ["path": "\(path(of: inode))", "file": "\(side)"])
            counters.authenticationFailed(.symlink)
            throw Errno.EIO
        }
        guard let target = SymlinkCodec.decrypt(stored, keyring: keyring) else {
            logger.error("symlink target does not decrypt", metadata: ["path": "\(path(of: inode))"])
            counters.authenticationFailed(.symlink)
            throw Errno.EIO
        }
        inode.symlinkTarget.withLock { $0 = target }
        return target
    }

    public func mknod(parent: UInt64, name: String, mode: mode_t, rdev: dev_t, context: RequestContext) throws(Errno) -> Entry {
        let dir = try inodes.get(parent)
        return try inDirectory(dir) { () throws(Errno) -> Entry in
            let b = try backingName(of: name, in: dir)
            let owner = try ownership(in: dir, context: context)
            if b.isLong { try writeLongNameSideFile(dirFD: dir.fd, backingName: b.name, encrypted: b.encrypted) }
            if (mode & S_IFMT) == S_IFREG {
                // A regular file made by mknod gets its header at once, like one made by create.
                let (entry, file) = try create(parent: parent, name: name, mode: mode & ~S_IFMT, flags: O_WRONLY | O_EXCL, context: context)
                release(file)
                return entry
            }
            _ = try sys { mknodat(dir.fd, b.name, mode, rdev) }
            try setOwner(dirFD: dir.fd, backing: b.name, uid: owner.uid, gid: owner.gid)
            return try register(backing: b.name, in: dir, name: name)
        }
    }

    public func mkdir(parent: UInt64, name: String, mode: mode_t, context: RequestContext) throws(Errno) -> Entry {
        let dir = try inodes.get(parent)
        return try inDirectory(dir) { () throws(Errno) -> Entry in
            let b = try backingName(of: name, in: dir)
            let owner = try ownership(in: dir, context: context)
            if b.isLong { try writeLongNameSideFile(dirFD: dir.fd, backingName: b.name, encrypted: b.encrypted) }
            // Built under a temporary name and renamed into place: never a named directory without its IV.
            let tmp = temporaryName()
            let iv = DirectoryIV.random(keys: keyring.current, version: newDirectoryIVVersion)
            _ = try sys { mkdirat(dir.fd, tmp, 0o700) }
            do throws(Errno) {
                let fd = try sys { openat(dir.fd, tmp, tdefs_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                defer { close(fd) }
                try iv.write(directoryFD: fd)
                try setOwner(dirFD: dir.fd, backing: tmp, uid: owner.uid, gid: owner.gid)
                let finalMode = (mode & 0o7777) | (owner.setgid ? S_ISGID : 0)
                _ = try sys { fchmodat(dir.fd, tmp, finalMode, 0) }
                try renameNoReplace(dir.fd, tmp, dir.fd, b.name)
            } catch {
                BackingEntries.removeTree(dirFD: dir.fd, name: tmp)
                throw error
            }
            let entry = try register(backing: b.name, in: dir, name: name)
            // The IV just written: the first entry made in the directory need not read it back.
            if let made = try? inodes.get(entry.node) {
                made.directoryIV.withLock { if $0 == nil { $0 = iv } }
                census.madeDirectory(.directory(iv.epoch), key: made.key, in: dir)
            }
            return entry
        }
    }

    public func symlink(target: String, parent: UInt64, name: String, context: RequestContext) throws(Errno) -> Entry {
        let dir = try inodes.get(parent)
        return try inDirectory(dir) { () throws(Errno) -> Entry in
            let b = try backingName(of: name, in: dir)
            let stored = try SymlinkCodec.encrypt(Array(target.utf8), keys: keyring.current)
            let owner = try ownership(in: dir, context: context)
            if b.isLong { try writeLongNameSideFile(dirFD: dir.fd, backingName: b.name, encrypted: b.encrypted) }
            try SymlinkTargetStore.create(stored: stored, dirFD: dir.fd, name: b.name, rootFD: rootFD)
            census.added(SymlinkCodec.epoch(ofStored: Array(stored.utf8)).map { .symlink($0) } ?? .unreadable, in: dir)
            try setOwner(dirFD: dir.fd, backing: b.name, uid: owner.uid, gid: owner.gid)
            return try register(backing: b.name, in: dir, name: name)
        }
    }

    public func link(_ node: UInt64, newParent: UInt64, newName: String) throws(Errno) -> Entry {
        let inode = try inodes.get(node)
        let dir = try inodes.get(newParent)
        return try inDirectory(dir) { () throws(Errno) -> Entry in
            let b = try backingName(of: newName, in: dir)
            if b.isLong { try writeLongNameSideFile(dirFD: dir.fd, backingName: b.name, encrypted: b.encrypted) }
            if inode.isSymlink {
                // /proc/self/fd/N of a symlink cannot be followed to the link itself: use AT_EMPTY_PATH.
                _ = try sys { linkat(inode.fd, "", dir.fd, b.name, tdefs_AT_EMPTY_PATH) }
            } else {
                _ = try sys { linkat(AT_FDCWD, inode.procPath, dir.fd, b.name, AT_SYMLINK_FOLLOW) }
            }
            census.added(census.entry(in: dir, name: b.name, rootFD: rootFD), in: dir)
            return try register(backing: b.name, in: dir, name: newName)
        }
    }

    public func unlink(parent: UInt64, name: String) throws(Errno) {
        let dir = try inodes.get(parent)
        return try inDirectory(dir) { () throws(Errno) -> Void in
            let b = try backingName(of: name, in: dir)
            // One fstatat serves the census and the side-file watch (only a symlink names a side file).
            var st = stat()
            let found = fstatat(dir.fd, b.name, &st, AT_SYMLINK_NOFOLLOW) == 0
            let counted = found ? census.entry(in: dir, name: b.name, st, rootFD: rootFD) : census.entry(in: dir, name: b.name, rootFD: rootFD)
            let watch = !found || (st.st_mode & S_IFMT) == S_IFLNK
                ? SymlinkTargetStore.LastLinkWatch(dirFD: dir.fd, name: b.name, rootFD: rootFD) : nil
            _ = try sys { unlinkat(dir.fd, b.name, 0) }
            census.removed(counted, in: dir)
            watch?.finish()
            if b.isLong { removeLongNameSideFile(dirFD: dir.fd, backingName: b.name) }
        }
    }

    public func rmdir(parent: UInt64, name: String) throws(Errno) {
        let dir = try inodes.get(parent)
        return try inDirectory(dir) { () throws(Errno) -> Void in
            let b = try backingName(of: name, in: dir)
            let counted = census.entry(in: dir, name: b.name, rootFD: rootFD)
            try removeEmptyDirectoryContents(parentFD: dir.fd, backing: b.name)
            _ = try sys { unlinkat(dir.fd, b.name, AT_REMOVEDIR) }
            census.removed(counted, in: dir)
            if b.isLong { removeLongNameSideFile(dirFD: dir.fd, backingName: b.name) }
        }
    }

    public func rename(parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32) throws(Errno) {
        let from = try inodes.get(parent)
        let to = try inodes.get(newParent)
        try inDirectory(from) { () throws(Errno) in
            try inDirectory(to, alreadyHolding: from) { () throws(Errno) in
                let src = try backingName(of: name, in: from)
                let dst = try backingName(of: newName, in: to)
                let exchange = flags & tdefs_RENAME_EXCHANGE != 0
                if flags & ~(tdefs_RENAME_EXCHANGE | tdefs_RENAME_NOREPLACE) != 0 { throw Errno.EINVAL }

                var srcSt = stat(), dstSt = stat()
                _ = try sys { fstatat(from.fd, src.name, &srcSt, AT_SYMLINK_NOFOLLOW) }
                let dstExists = fstatat(to.fd, dst.name, &dstSt, AT_SYMLINK_NOFOLLOW) == 0
                if dstExists && srcSt.st_ino == dstSt.st_ino && srcSt.st_dev == dstSt.st_dev && !exchange {
                    return  // Same object (hard links or same name): rename does nothing, as POSIX says.
                }
                let counted = RenameCensus(self, from: from, src: src.name, srcSt, to: to, dst: dst.name, dstExists ? dstSt : nil,
                                          exchange: exchange)
                if dst.isLong { try writeLongNameSideFile(dirFD: to.fd, backingName: dst.name, encrypted: dst.encrypted) }
                if exchange && src.isLong { try writeLongNameSideFile(dirFD: from.fd, backingName: src.name, encrypted: src.encrypted) }
                // A backing directory is never empty (it holds its IV): replacing an empty one needs it emptied first.
                if dstExists && !exchange && flags & tdefs_RENAME_NOREPLACE == 0
                    && (dstSt.st_mode & S_IFMT) == S_IFDIR && (srcSt.st_mode & S_IFMT) == S_IFDIR {
                    try removeEmptyDirectoryContents(parentFD: to.fd, backing: dst.name)
                }
                // A symlink replaced by the rename may take its target's side file with it.
                let replaced = dstExists && !exchange && (dstSt.st_mode & S_IFMT) == S_IFLNK
                    && Int(dstSt.st_size) == SymlinkCodec.sideFileNameBytes
                    ? SymlinkTargetStore.LastLinkWatch(dirFD: to.fd, name: dst.name, rootFD: rootFD) : nil
                _ = try sys { tdefs_renameat2(from.fd, src.name, to.fd, dst.name, flags) }
                counted.renamed(newName: newName, oldName: name)
                replaced?.finish()
                if !exchange && src.isLong { removeLongNameSideFile(dirFD: from.fd, backingName: src.name) }

                let moved = InodeKey(dev: UInt64(srcSt.st_dev), ino: UInt64(srcSt.st_ino))
                inodes.find(moved)?.location.withLock { $0 = InodeLocation(parent: newParent, name: newName, backingName: dst.name) }
                if exchange && dstExists {
                    let other = InodeKey(dev: UInt64(dstSt.st_dev), ino: UInt64(dstSt.st_ino))
                    inodes.find(other)?.location.withLock { $0 = InodeLocation(parent: parent, name: name, backingName: src.name) }
                }
            }
        }
    }

    // MARK: - Helpers

    func setOwner(dirFD: Int32, backing: String, uid: uid_t, gid: gid_t) throws(Errno) {
        guard options.chownToCaller else { return }
        _ = try sys { fchownat(dirFD, backing, uid, gid, AT_SYMLINK_NOFOLLOW) }
    }

    /// For rmdir and rename-over: ENOTEMPTY if the backing directory holds a user entry; otherwise
    /// removes tdefs' own files in it (IV file, stray side files), leaving it empty.
    func removeEmptyDirectoryContents(parentFD: Int32, backing: String) throws(Errno) {
        var st = stat()
        _ = try sys { fstatat(parentFD, backing, &st, AT_SYMLINK_NOFOLLOW) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw Errno.ENOTDIR }
        let fd = try sys { openat(parentFD, backing, tdefs_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(fd) }
        if try userEntryCount(directoryFD: fd, stopAfter: 1) > 0 { throw Errno.ENOTEMPTY }
        var own: [String] = []
        try BackingEntries.forEachEntry(directoryFD: fd) { name, _, _ in own.append(name); return true }
        for name in own { BackingEntries.removeTree(dirFD: fd, name: name) }
    }

    /// Runs a namespace operation in `dir` with its namespace lock shared; re-encrypting the
    /// directory's names takes it alone. Finishes a name migration a crash interrupted first.
    func inDirectory<R>(_ dir: Inode, alreadyHolding other: Inode? = nil,
                        _ body: () throws(Errno) -> R) throws(Errno) -> R {
        if other === dir { return try body() }
        try finishInterruptedMigration(dir)
        return try dir.namespaceLock.withReadLock(body)
    }

    /// renameat2(RENAME_NOREPLACE), or, on a backing filesystem without it, a check and a plain
    /// rename: the kernel holds the directory's lock for a create in it, so no one can slip in.
    func renameNoReplace(_ fromFD: Int32, _ from: String, _ toFD: Int32, _ to: String) throws(Errno) {
        if tdefs_renameat2(fromFD, from, toFD, to, tdefs_RENAME_NOREPLACE) == 0 { return }
        let e = errno
        guard e == EINVAL || e == ENOSYS || e == ENOTSUP else { throw Errno(e) }
        var st = stat()
        if fstatat(toFD, to, &st, AT_SYMLINK_NOFOLLOW) == 0 { throw Errno.EEXIST }
        _ = try sys { renameat(fromFD, from, toFD, to) }
    }
}
