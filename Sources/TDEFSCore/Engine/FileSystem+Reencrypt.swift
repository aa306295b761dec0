import CPlatform
import Glibc
import Synchronization

/// rotate --reencrypt: every file gets a new file key, every directory a new IV under the target
/// epoch (names re-encrypted), every symlink target and directory attribute the target epoch's
/// keys. Runs in the daemon while the volume is in use (online) or in the CLI (offline). Each step
/// is crash-safe and resumable; see docs/rotation.md.
extension FileSystem {
    /// Extents converted per lock hold: readers and writers of the file wait at most this long.
    static let reencryptBatch: Int64 = 64

    public struct ReencryptProgress: Sendable {
        public var files = 0
        public var directories = 0
        public var bytes: Int64 = 0
    }

    /// Walks the whole tree. `progress` is called after each file. Every file ends in the newest
    /// format version, and new files are made in it from now on (the caller has recorded that
    /// version in tdefs.conf).
    public func reencryptTree(to target: EpochKeys, progress: (ReencryptProgress) -> Void = { _ in }) throws(Errno) {
        // The target first: from the format switch on, version-1 IVs are accepted only because it is set.
        reencryptTarget.withLock { $0 = target.epoch }
        volumeFormat.store(FormatVersions.newestVolume, ordering: .relaxed)
        var done = ReencryptProgress()
        var queue: [UInt64] = [Self.rootNode]
        // Directories waiting in the queue hold a lookup; give them back if we stop early.
        defer { for node in queue where node != Self.rootNode { forget(node, count: 1) } }
        while let node = queue.popLast() {
            defer { if node != Self.rootNode { forget(node, count: 1) } }
            let dir = try inodes.get(node)
            try dir.namespaceLock.withWriteLock { () throws(Errno) in try migrateNames(dir, to: target) }
            done.directories += 1
            for entry in try inDirectory(dir, { () throws(Errno) in try listing(of: dir) }) where entry.name != "." && entry.name != ".." {
                guard let child = try? lookup(parent: node, name: entry.name) else { continue }
                let inode = try inodes.get(child.node)
                if inode.isDirectory {
                    queue.append(child.node)  // forgotten after its turn
                    continue
                }
                defer { forget(child.node, count: 1) }
                if inode.isRegular {
                    done.bytes += try reencryptFile(inode, to: target)
                    done.files += 1
                    progress(done)
                }
            }
        }
        _ = tdefs_syncfs(rootFD)
        // Every directory and file is moved: nothing under the old rules is accepted any more.
        reencryptTarget.withLock { $0 = nil }
    }

    // MARK: Files

    /// Re-keys one file in place; returns its plaintext size. A file already under `target` with
    /// no pending re-key is left alone; a re-key that an earlier, interrupted rotation began is
    /// finished first.
    @discardableResult
    func reencryptFile(_ inode: Inode, to target: EpochKeys) throws(Errno) -> Int64 {
        let file = try reopen(inode, flags: O_RDWR)
        for _ in 0..<2 {
            guard let (next, resumed) = try beginRekey(file, inode, to: target) else {
                return try ContentIO.plainSize(fd: file.fd)
            }
            let size = try finishRekey(file, inode, next)
            if !resumed || (next.epoch == target.epoch && next.version >= FileHeader.newestVersion) { return size }
        }
        return try ContentIO.plainSize(fd: file.fd)
    }

    /// Records the new header beside the old one (durably) before any extent uses the new key.
    /// Returns the header to move to, and whether it was already pending.
    func beginRekey(_ file: OpenFile, _ inode: Inode, to target: EpochKeys) throws(Errno) -> (FileHeader, Bool)? {
        let content = inode.content!
        return try content.lock.withWriteLock { () throws(Errno) -> (FileHeader, Bool)? in
            guard let io = try contentIO(file.fd, inode, createHeader: false) else { return nil }
            let loaded = io.header
            if loaded.previousKey != nil { return (loaded.header, true) }
            let version = max(loaded.header.version, newFileVersion)
            if loaded.header.epoch == target.epoch && loaded.header.version == version {
                // Done, but a kill between the header switch and the record's removal left the record.
                if RekeyRecord.isLeftover(fd: file.fd, current: loaded.header) { _ = tdefs_fremovexattr(file.fd, Self.rekeyAttribute) }
                return nil
            }
            let newKey = SecureBytes.random(count: FileHeader.fileKeyBytes)
            var header = FileHeader(version: version, size: target.size, epoch: target.epoch, fileID: loaded.header.fileID, wrapped: [])
            header.wrap(fileKey: newKey, keys: target)
            let bytes = RekeyRecord.seal(next: header, current: loaded.header, currentKey: loaded.fileKey)
            _ = try sys { bytes.withUnsafeBytes { tdefs_fsetxattr(file.fd, Self.rekeyAttribute, $0.baseAddress, $0.count, 0) } }
            NonceBudget.reset(fd: file.fd)  // the new key's count starts at zero
            content.carriedSeals.store(0, ordering: .relaxed)
            _ = try sys { Glibc.fsync(file.fd) }
            content.header.withLock {
                $0 = LoadedHeader(header: header, fileKey: newKey, previousKey: loaded.fileKey, previousSize: loaded.header.size,
                                  previousVersion: loaded.header.version)
            }
            return (header, false)
        }
    }

    /// Converts the extents a batch at a time (nobody waits long for the file), then, with every
    /// extent durable under the new key, switches the header and drops the pending record.
    func finishRekey(_ file: OpenFile, _ inode: Inode, _ next: FileHeader) throws(Errno) -> Int64 {
        let content = inode.content!
        var j: Int64 = 0
        var extents: Int64 = 1
        while j < extents {
            extents = try content.lock.withWriteLock { () throws(Errno) -> Int64 in
                try contentIO(file.fd, inode, createHeader: false)!.convert(first: j, count: Self.reencryptBatch)
            }
            j += Self.reencryptBatch
        }
        return try content.lock.withWriteLock { () throws(Errno) -> Int64 in
            let io = try contentIO(file.fd, inode, createHeader: false)!
            _ = try io.convert(first: j, count: Int64.max / 2)  // extents a writer added meanwhile
            if let previous = io.header.previousXattrKeys {
                try moveFileAttributes(inode, from: previous, to: io.header.xattrKeys)
            }
            _ = try sys { fdatasync(file.fd) }
            let bytes = next.bytes
            // The switch excludes a concurrent rewrap (rotate's HeaderRewrap) of this header.
            let w = try HeaderLock.withLock(fd: file.fd) { () throws(Errno) -> Int in
                try sys { bytes.withUnsafeBytes { pwrite(file.fd, $0.baseAddress, $0.count, 0) } }
            }
            if w != bytes.count { throw Errno.EIO }
            _ = try sys { fdatasync(file.fd) }
            _ = tdefs_fremovexattr(file.fd, Self.rekeyAttribute)
            let key = io.header.fileKey
            let budget = io.header.budget
            content.header.withLock { $0 = LoadedHeader(header: next, fileKey: key, budget: budget) }
            return try io.plainSize()
        }
    }

    // MARK: Directories

    /// Finishes a name migration that a crash interrupted (tdefs.diriv.next present), once per inode.
    func finishInterruptedMigration(_ dir: Inode) throws(Errno) {
        guard dir.isDirectory, !dir.migrationChecked.load(ordering: .acquiring) else { return }
        if faccessat(dir.fd, DirectoryIV.nextFileName, F_OK, AT_SYMLINK_NOFOLLOW) == 0 {
            try dir.namespaceLock.withWriteLock { () throws(Errno) in try migrateNames(dir, to: nil) }
        }
        dir.migrationChecked.store(true, ordering: .releasing)
    }

    /// Re-encrypts a directory's names under a new IV of `target` (or of the pending next IV when
    /// resuming). Caller holds the directory's namespace lock exclusively.
    func migrateNames(_ dir: Inode, to target: EpochKeys?) throws(Errno) {
        let old = try directoryIV(of: dir)
        var next: DirectoryIV
        // Attributes an older release's interrupted move left under a version-1 next IV's keys.
        var alsoMoved: XattrKeys?
        if let pending = try? DirectoryIV.read(directoryFD: dir.fd, name: DirectoryIV.nextFileName) {
            next = pending
            let keys = try nameKeys(for: pending)
            guard pending.isAcceptableAsNext(keys: keys, reencryptTarget: reencryptTarget.withLock({ $0 })) else {
                logger.error("next directory IV refused: it does not authenticate, or no re-encryption towards its epoch is recorded",
                             metadata: ["path": "\(path(of: dir))"])
                counters.authenticationFailed(.directoryIV)
                throw Errno.EIO
            }
            if pending.version < 2 && newDirectoryIVVersion >= 2 {
                // Left by a release that made version-1 IVs: the same IV, now with its tag.
                alsoMoved = XattrKeys.forDirectory(keys: keys, iv: pending)
                next = pending.authenticated(keys: keys)
                try writeNextIV(next, in: dir)
            }
        } else {
            guard let target, old.epoch != target.epoch || old.version < newDirectoryIVVersion else { return }
            next = DirectoryIV.random(keys: target, version: newDirectoryIVVersion)
            try writeNextIV(next, in: dir)
        }
        let oldKeys = try nameKeys(for: old), newKeys = try nameKeys(for: next)
        var entries: [String] = []
        try BackingEntries.forEachEntry(directoryFD: dir.fd) { name, _, _ in entries.append(name); return true }
        // Temporaries of an interrupted migration (or mkdir) here are ours: nobody else can be
        // using them while we hold the directory alone.
        for name in entries where name.hasPrefix("tdefs.tmp.") { BackingEntries.removeTree(dirFD: dir.fd, name: name) }
        for backing in entries {
            let kind = NameCodec.classify(backing)
            guard kind == .encrypted || kind == .long else { continue }
            guard let plain = plaintextName(ofBacking: backing, in: dir, iv: old, keys: oldKeys, quiet: true) else {
                // Already under the next IV (resumed): its symlink target may still be the old epoch's.
                if plaintextName(ofBacking: backing, in: dir, iv: next, keys: newKeys, quiet: true) != nil {
                    try reencryptSymlinkIfAny(dirFD: dir.fd, backing: backing, target: newKeys)
                }
                continue  // (or damaged: left for fsck)
            }
            let encrypted = NameCodec.encrypt(Array(plain.utf8), iv: next.iv, key: newKeys.nameCipher)
            let b = NameCodec.backingName(forEncrypted: encrypted)
            if b.isLong { try writeLongNameSideFile(dirFD: dir.fd, backingName: b.name, encrypted: encrypted) }
            try renameNoReplace(dir.fd, backing, dir.fd, b.name)
            if kind == .long { removeLongNameSideFile(dirFD: dir.fd, backingName: backing) }
            try reencryptSymlinkIfAny(dirFD: dir.fd, backing: b.name, target: newKeys)
        }
        try reencryptDirectoryAttributes(dir, from: [XattrKeys.forDirectory(keys: oldKeys, iv: old)] + (alsoMoved.map { [$0] } ?? []),
                                         to: XattrKeys.forDirectory(keys: newKeys, iv: next))
        // Every renamed entry is durable before the IV switch, and the switch before we go on.
        let dfd = try sys { openat(dir.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(dfd) }
        _ = try sys { Glibc.fsync(dfd) }
        _ = try sys { renameat(dir.fd, DirectoryIV.nextFileName, dir.fd, DirectoryIV.fileName) }
        _ = try sys { Glibc.fsync(dfd) }
        dir.directoryIV.withLock { $0 = next }
        inodes.updateLocations(parent: dir.node) { loc in
            let b = NameCodec.backingName(forEncrypted: NameCodec.encrypt(Array(loc.name.utf8), iv: next.iv, key: newKeys.nameCipher))
            loc.backingName = b.name
        }
    }

    /// A symlink's target moves to the target epoch: a new link under a temporary name, renamed
    /// over (a long target gets a new side file; the old one goes with the old link's last name).
    func reencryptSymlinkIfAny(dirFD: Int32, backing: String, target: EpochKeys) throws(Errno) {
        var st = stat()
        guard fstatat(dirFD, backing, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return }
        guard case .target(let old, _) = try SymlinkTargetStore.read(dirFD: dirFD, name: backing, rootFD: rootFD) else { return }
        if SymlinkCodec.epoch(ofStored: old) == target.epoch { return }
        guard let plain = SymlinkCodec.decrypt(old, keyring: keyring) else { return }
        let stored = try SymlinkCodec.encrypt(plain, keys: target)
        let tmp = temporaryName()
        try SymlinkTargetStore.create(stored: stored, dirFD: dirFD, name: tmp, rootFD: rootFD)
        _ = fchownat(dirFD, tmp, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW)
        var times = [st.st_atim, st.st_mtim]
        _ = utimensat(dirFD, tmp, &times, AT_SYMLINK_NOFOLLOW)
        let replaced = SymlinkTargetStore.LastLinkWatch(dirFD: dirFD, name: backing, rootFD: rootFD)
        _ = try sys { renameat(dirFD, tmp, dirFD, backing) }
        replaced?.finish()
    }

    /// tdefs.diriv.next, replaced atomically (a temporary name renamed over it).
    func writeNextIV(_ next: DirectoryIV, in dir: Inode) throws(Errno) {
        let tmp = temporaryName()
        try next.write(directoryFD: dir.fd, name: tmp)
        _ = try sys { renameat(dir.fd, tmp, dir.fd, DirectoryIV.nextFileName) }
    }

    /// Moves a directory's user.* attributes from its old IV's keys (or any of `sources`) to its next IV's.
    func reencryptDirectoryAttributes(_ dir: Inode, from sources: [XattrKeys], to newKeys: XattrKeys) throws(Errno) {
        let size = tdefs_listxattr(dir.procPath, nil, 0)
        guard size > 0 else { return }
        var buf = [UInt8](repeating: 0, count: size)
        let n = buf.withUnsafeMutableBytes { tdefs_listxattr(dir.procPath, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        guard n > 0 else { return }
        for raw in buf[0..<n].split(separator: 0) {
            let backing = String(decoding: raw, as: UTF8.self)
            guard let (name, oldKeys) = sources.lazy.compactMap({ keys in XattrCodec.decryptName(backing, keys: keys).map { ($0, keys) } }).first,
                  let value = XattrCodec.openValue(try readBackingXattr(dir.procPath, backing), backingName: backing, keys: oldKeys)
            else { continue }  // already under the new keys (resumed), or damaged: left for fsck
            let newName = try XattrCodec.encryptName(name, keys: newKeys)
            let sealed = XattrCodec.sealValue(value, backingName: newName, keys: newKeys)
            _ = try sys { sealed.withUnsafeBytes { tdefs_setxattr(dir.procPath, newName, $0.baseAddress, $0.count, 0) } }
            _ = tdefs_removexattr(dir.procPath, backing)
        }
    }
}

extension ContentIO {
    static func plainSize(fd: Int32) throws(Errno) -> Int64 {
        var size: Int64 = 0
        _ = try sys { tdefs_fd_size(fd, &size) }
        return ExtentGeometry.plainSize(backingSize: size)
    }
}
