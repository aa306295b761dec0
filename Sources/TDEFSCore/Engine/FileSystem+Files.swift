import CPlatform
import Glibc

/// An open regular file (the FUSE file handle): its own backing descriptor, opened read-write
/// so partial extents can be re-encrypted.
public final class OpenFile: Sendable {
    public let node: UInt64
    let inode: Inode
    let fd: Int32
    let append: Bool

    init(inode: Inode, fd: Int32, append: Bool) {
        node = inode.node
        self.inode = inode
        self.fd = fd
        self.append = append
        inode.content?.handleOpened()
    }

    deinit {
        close(fd)
        inode.content?.handleClosed()
    }
}

extension FileSystem {
    public func open(_ node: UInt64, flags: Int32) throws(Errno) -> OpenFile {
        let inode = try inodes.get(node)
        guard inode.isRegular else { throw inode.isDirectory ? Errno.EISDIR : Errno.EINVAL }
        let file = try reopen(inode, flags: flags)
        if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY {
            try inode.content!.lock.withWriteLock { () throws(Errno) in
                if let io = try contentIO(file.fd, inode, createHeader: false) { try io.truncate(to: 0) }
            }
        }
        counters.fileOpened()
        return file
    }

    /// A new read-write backing descriptor for a regular file (read-only if that is all it allows).
    func reopen(_ inode: Inode, flags: Int32) throws(Errno) -> OpenFile {
        let passed = flags & (O_SYNC | O_DSYNC)
        var fd = makingRoomForDescriptors { Glibc.open(inode.procPath, O_RDWR | O_CLOEXEC | passed) }
        if fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM) && flags & O_ACCMODE == O_RDONLY {
            fd = Glibc.open(inode.procPath, O_RDONLY | O_CLOEXEC)
        }
        if fd < 0 { throw Errno.current }
        return OpenFile(inode: inode, fd: fd, append: flags & O_APPEND != 0)
    }

    public func create(parent: UInt64, name: String, mode: mode_t, flags: Int32, context: RequestContext) throws(Errno) -> (Entry, OpenFile) {
        let dir = try inodes.get(parent)
        return try inDirectory(dir) { () throws(Errno) -> (Entry, OpenFile) in
            let b = try backingName(of: name, in: dir)
            let owner = try ownership(in: dir, context: context)
            if b.isLong { try writeLongNameSideFile(dirFD: dir.fd, backingName: b.name, encrypted: b.encrypted) }
            let fd = makingRoomForDescriptors { openat(dir.fd, b.name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, mode & 0o7777) }
            if fd < 0 {
                let e = Errno.current
                if e.code == EEXIST && flags & O_EXCL == 0 {
                    let entry = try lookup(parent: parent, name: name)
                    do throws(Errno) {
                        return (entry, try open(entry.node, flags: flags))
                    } catch {
                        forget(entry.node, count: 1)
                        throw error
                    }
                }
                throw e
            }
            do throws(Errno) {
                // openat already gave the daemon's owner (the directory's group in a set-group-ID
                // directory) and the exact mode (umask is 0): change only what differs. chown
                // clears set-user/group-ID bits, so those are set again afterwards.
                if options.chownToCaller && (owner.uid != DaemonIdentity.uid || (owner.gid != DaemonIdentity.gid && !owner.setgid)) {
                    _ = try sys { fchown(fd, owner.uid, owner.gid) }
                    if mode & 0o6000 != 0 { _ = try sys { fchmod(fd, mode & 0o7777) } }
                }
                let (header, fileKey) = FileHeader.create(keys: keyring.current, version: newFileVersion)
                let bytes = header.bytes
                let n = try sys { bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
                if n != bytes.count { throw Errno.EIO }
                let entry = try register(backing: b.name, in: dir, name: name)
                let inode = try inodes.get(entry.node)
                inode.content?.header.withLock { $0 = LoadedHeader(header: header, fileKey: fileKey) }
                census.added(.file(header.epoch), in: dir)
                counters.fileOpened()
                return (entry, OpenFile(inode: inode, fd: fd, append: flags & O_APPEND != 0))
            } catch {
                close(fd)
                unlinkat(dir.fd, b.name, 0)
                if b.isLong { removeLongNameSideFile(dirFD: dir.fd, backingName: b.name) }
                throw error
            }
        }
    }

    public func read(_ file: OpenFile, offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        if offset < 0 { throw Errno.EINVAL }
        return try file.inode.content!.lock.withReadLock { () throws(Errno) -> Int in
            guard let io = try contentIO(file.fd, file.inode, createHeader: false) else { return 0 }
            return try io.read(offset: offset, into: buffer)
        }
    }

    /// With `keepingMtime` (the writeback cache: the kernel keeps the file's times itself and
    /// sends its mtime with a setattr, sometimes before the data it covers) the file's mtime stays
    /// what the kernel knows: the first write since the last full fsync or close notes the backing
    /// mtime as the deferred one, to be set back then (see `FileSystem.setattr`). Later writes
    /// touch no times at all, so the backing filesystem dirties the inode at most once per clock
    /// tick, and a commit's fdatasync rarely has an inode block to write.
    public func write(_ file: OpenFile, offset: Int64, from data: UnsafeRawBufferPointer,
                      keepingMtime: Bool = false) throws(Errno) -> Int {
        if offset < 0 { throw Errno.EINVAL }
        let content = file.inode.content!
        return try content.lock.withWriteLock { () throws(Errno) -> Int in
            let io = try contentIO(file.fd, file.inode, createHeader: true)!
            let at = file.append ? try io.plainSize() : offset
            if at > ContentIO.maxPlainSize - Int64(data.count) { throw Errno.EFBIG }
            if keepingMtime && content.deferredMtime.withLock({ $0 }) == nil {
                var before = stat()
                _ = try sys { fstat(file.fd, &before) }
                content.deferredMtime.withLock { $0 = before.st_mtim }
            }
            try io.write(offset: at, data: data)
            return data.count
        }
    }

    /// The descriptor closes when the last reference to the handle goes; a deferred mtime reaches
    /// the backing file first. Nobody waits for a release, so a failure there is only logged (and
    /// the mtime dropped: it would otherwise show until the kernel forgets the file).
    public func release(_ file: OpenFile) {
        counters.fileReleased()
        file.inode.content?.header.withLock { $0 }?.budget.persist(fd: file.fd, atClose: true)
        do {
            try applyDeferredMtime(file.inode, fd: file.fd)
        } catch {
            file.inode.content?.deferredMtime.withLock { $0 = nil }
            logger.warning("could not set a file's mtime at close", metadata: ["path": "\(path(of: file.inode))", "errno": "\(error.code)"])
        }
    }

    /// A full fsync makes the file's metadata durable, so a deferred mtime goes to the backing
    /// file first; fdatasync leaves it for later, as it may. The data is synced even when the
    /// mtime cannot be set.
    public func fsync(_ file: OpenFile, dataOnly: Bool) throws(Errno) {
        var timesError: Errno?
        file.inode.content?.header.withLock { $0 }?.budget.persist(fd: file.fd, atClose: false)
        if !dataOnly {
            do { try applyDeferredMtime(file.inode, fd: file.fd) } catch { timesError = error }
        }
        _ = try sys { dataOnly ? fdatasync(file.fd) : Glibc.fsync(file.fd) }
        if let timesError { throw timesError }
    }

    /// Sets a deferred mtime on the backing file, through `fd` (an open file) or else by path, and
    /// forgets it once set.
    func applyDeferredMtime(_ inode: Inode, fd: Int32?) throws(Errno) {
        guard let content = inode.content, content.deferredMtime.withLock({ $0 }) != nil else { return }
        try content.lock.withWriteLock { () throws(Errno) in
            guard let mtime = content.deferredMtime.withLock({ $0 }) else { return }
            var times = (timespec(tv_sec: 0, tv_nsec: tdefs_UTIME_OMIT), mtime)
            _ = try withUnsafePointer(to: &times) { (pair) throws(Errno) -> Int32 in
                let t = UnsafeRawPointer(pair).assumingMemoryBound(to: timespec.self)
                return try sys { fd.map { futimens($0, t) } ?? utimensat(AT_FDCWD, inode.procPath, t, 0) }
            }
            content.deferredMtime.withLock { $0 = nil }
        }
    }

    public func fallocate(_ file: OpenFile, mode: Int32, offset: Int64, length: Int64) throws(Errno) {
        if offset < 0 || length <= 0 { throw Errno.EINVAL }
        if offset > ContentIO.maxPlainSize - length { throw Errno.EFBIG }
        guard mode == 0 || mode == tdefs_FALLOC_FL_KEEP_SIZE else { throw Errno.ENOTSUP }
        try file.inode.content!.lock.withWriteLock { () throws(Errno) in
            let io = try contentIO(file.fd, file.inode, createHeader: true)!
            let end = offset + length
            let size = try io.plainSize()
            if mode == 0 && end > size { try io.truncate(to: end) }
            // Reserve the backing blocks of the range; unwritten blocks read as zeros, i.e. holes.
            let from = ExtentGeometry.backingOffset(ofExtent: offset / Int64(ExtentGeometry.plainBytes))
            let to = mode == 0 ? ExtentGeometry.backingSize(plainSize: max(end, size))
                               : ExtentGeometry.backingSize(plainSize: end)
            if to > from { _ = try sys { tdefs_fallocate(file.fd, mode, from, to - from) } }
        }
    }

    /// The content codec for a file, loading its header once. nil for a file without a header
    /// (empty); with `createHeader`, such a file gets one (caller holds the write lock).
    func contentIO(_ fd: Int32, _ inode: Inode, createHeader: Bool) throws(Errno) -> ContentIO? {
        let content = inode.content!
        if let h = content.header.withLock({ $0 }) { return ContentIO(fd: fd, header: h, fs: self, inode: inode) }
        var buf = [UInt8](repeating: 0, count: FileHeader.byteCount)
        // Shared header lock: a concurrent rewrap (tdefs rotate) never shows us half a header.
        let n = try HeaderLock.withLock(fd: fd, shared: true) { () throws(Errno) -> Int in
            try sys { buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) } }
        }
        let loaded: LoadedHeader
        if n == 0 {
            guard createHeader else { return nil }
            let (header, key) = FileHeader.create(keys: keyring.current, version: newFileVersion)
            let bytes = header.bytes
            let w = try sys { bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
            if w != bytes.count { throw Errno.EIO }
            NonceBudget.reset(fd: fd)  // a count left by the file's previous key is not this one's
            content.carriedSeals.store(0, ordering: .relaxed)
            loaded = LoadedHeader(header: header, fileKey: key)
        } else {
            guard n == FileHeader.byteCount, let header = FileHeader(parsing: buf) else {
                logger.error("damaged file header", metadata: ["path": "\(path(of: inode))"])
                counters.authenticationFailed(.header)
                throw Errno.EIO
            }
            guard let keys = keyring.epoch(header.epoch) else {
                logger.error("file key epoch \(header.epoch) is not unlocked", metadata: ["path": "\(path(of: inode))"])
                throw Errno.EIO
            }
            guard let key = header.unwrap(keys: keys) else {
                logger.error("file header does not authenticate", metadata: ["path": "\(path(of: inode))"])
                counters.authenticationFailed(.header)
                throw Errno.EIO
            }
            loaded = try pendingRekey(fd, inode, current: header, currentKey: key)
                ?? LoadedHeader(header: header, fileKey: key,
                                budget: NonceBudget.load(fd: fd, carried: content.carriedSeals.exchange(0, ordering: .relaxed)))
        }
        content.header.withLock { if $0 == nil { $0 = loaded } }
        return ContentIO(fd: fd, header: content.header.withLock { $0! }, fs: self, inode: inode)
    }

    /// The header of an interrupted re-key (rotate --reencrypt), kept in the reserved attribute
    /// user.tdefs.rekey until the new header is in place: then both keys open extents.
    func pendingRekey(_ fd: Int32, _ inode: Inode, current: FileHeader, currentKey: SecureBytes) throws(Errno) -> LoadedHeader? {
        let target = reencryptTarget.withLock { $0 }
        switch RekeyRecord.read(fd: fd, current: current, currentKey: currentKey, keyring: keyring, target: target) {
        case .none:
            return nil
        case .pending(let next, let nextKey):
            // The count in the backing file is the pending key's (beginRekey dropped the old one's).
            return LoadedHeader(header: next, fileKey: nextKey, previousKey: currentKey, previousSize: current.size,
                                previousVersion: current.version,
                                budget: NonceBudget.load(fd: fd, carried: inode.content!.carriedSeals.exchange(0, ordering: .relaxed)))
        case .damaged:
            logger.error("damaged re-key record", metadata: ["path": "\(path(of: inode))"])
            counters.authenticationFailed(.header)
            throw Errno.EIO
        case .refused(let epoch):
            // Planted or replayed (no re-encryption towards its epoch is recorded): the file is
            // read under its header alone, and the record is left for fsck to report.
            logger.error("re-key record towards epoch \(epoch) refused: tdefs.conf records no re-encryption towards it",
                         metadata: ["path": "\(path(of: inode))"])
            counters.authenticationFailed(.header)
            return nil
        }
    }

    static let rekeyAttribute = RekeyRecord.attribute
}

/// The daemon's effective IDs, which own what openat creates: asked once, not per created file
/// (the daemon never changes them).
enum DaemonIdentity {
    static let uid = geteuid()
    static let gid = getegid()
}
