import CPlatform
import Glibc
import Logging
import Synchronization

/// The filesystem engine: POSIX semantics over an encrypted backing directory, called by the FUSE
/// adapter (and by tests directly). Node 1 is the root. All methods are thread-safe.
public final class FileSystem: Sendable {
    public static let rootNode: UInt64 = 1

    let keyring: Keyring
    let options: EngineOptions
    let logger: Logger
    let inodes: InodeTable
    let rootFD: Int32
    /// Per-request scratch memory (see Workspace).
    let workspaces = BufferPool(bufferSize: Workspace.byteCount)
    let gcmContexts = GCMPool()
    /// When the last "out of descriptors" error was logged (seconds, monotonic): one line a minute.
    let descriptorWarningTime = Atomic<Int>(-60)
    /// Handles and authentication failures, for the metrics.
    public let counters = EngineCounters()
    /// Files, directories and symlinks per key epoch, kept by a mounted daemon (see LiveCensus).
    public let census = LiveCensus()
    /// The volume's format version (options.formatVersion) until `rotate --reencrypt` moves the
    /// volume to the newest format: new files and directories are made in it (FormatVersions).
    let volumeFormat: Atomic<Int>
    var newFileVersion: UInt8 { FormatVersions.fileHeader(forVolume: volumeFormat.load(ordering: .relaxed)) }
    var newDirectoryIVVersion: UInt8 { FormatVersions.directoryIV(forVolume: volumeFormat.load(ordering: .relaxed)) }
    /// See EngineOptions.reencryptTarget.
    let reencryptTarget: Mutex<UInt32?>

    public init(backingPath: String, keyring: Keyring, options: EngineOptions = EngineOptions(),
                logger: Logger) throws(Errno) {
        self.keyring = keyring
        self.options = options
        volumeFormat = Atomic(options.formatVersion)
        reencryptTarget = Mutex(options.reencryptTarget)
        self.logger = logger
        // Modes reach the backing exactly as the kernel passed them (it applied the caller's umask).
        umask(0)
        let fd = try sys { Glibc.open(backingPath, tdefs_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        var st = stat()
        do throws(Errno) {
            _ = try sys { fstatat(fd, "", &st, tdefs_AT_EMPTY_PATH) }
        } catch {
            close(fd)
            throw error
        }
        rootFD = fd
        let root = Inode(node: Self.rootNode, key: InodeKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino)), fd: fd, kind: S_IFDIR,
                         location: nil)
        inodes = InodeTable(root: root)
        // The root IV must be readable now: a volume without it is not usable.
        _ = try directoryIV(of: root)
    }

    public func forget(_ node: UInt64, count: UInt64) { inodes.forget(node, count: count) }

    /// Called once when the filesystem is unmounted. Mtimes still waiting in memory reach the
    /// backing files first: when the daemon stops with files open, no release comes for them.
    public func destroy() {
        stopCensus()
        for inode in inodes.all() {
            do {
                try applyDeferredMtime(inode, fd: nil)
            } catch {
                logger.warning("could not set a file's mtime at unmount", metadata: ["path": "\(path(of: inode))", "errno": "\(error.code)"])
            }
        }
        inodes.forgetAll()
    }

    // MARK: - Names

    /// The directory's IV; a directory whose IV file is missing but that holds no entries gets a
    /// new one (an interrupted rmdir or rename can leave that state).
    func directoryIV(of dir: Inode) throws(Errno) -> DirectoryIV {
        guard dir.isDirectory else { throw Errno.ENOTDIR }
        if let iv = dir.directoryIV.withLock({ $0 }) { return iv }
        let iv: DirectoryIV
        do throws(Errno) {
            iv = try DirectoryIV.read(directoryFD: dir.fd)
        } catch where error.code == ENOENT {
            guard try userEntryCount(directoryFD: dir.fd, stopAfter: 1) == 0 else {
                logger.error("directory IV missing", metadata: ["path": "\(path(of: dir))"])
                counters.authenticationFailed(.directoryIV)
                throw Errno.EIO
            }
            let fresh = DirectoryIV.random(keys: keyring.current, version: newDirectoryIVVersion)
            do throws(Errno) { try fresh.write(directoryFD: dir.fd) } catch where error.code == EEXIST {}
            iv = try DirectoryIV.read(directoryFD: dir.fd)
        } catch {
            if error.code == EIO {
                logger.error("directory IV damaged", metadata: ["path": "\(path(of: dir))"])
                counters.authenticationFailed(.directoryIV)
            }
            throw error
        }
        let keys = try nameKeys(for: iv)
        guard iv.isAcceptable(keys: keys, formatVersion: volumeFormat.load(ordering: .relaxed),
                              reencryptTarget: reencryptTarget.withLock({ $0 })) else {
            logger.error(iv.version >= 2 ? "directory IV does not authenticate" : "directory IV is not authenticated, as this volume's format requires",
                         metadata: ["path": "\(path(of: dir))"])
            counters.authenticationFailed(.directoryIV)
            throw Errno.EIO
        }
        dir.directoryIV.withLock { $0 = iv }
        return iv
    }

    func nameKeys(for iv: DirectoryIV) throws(Errno) -> EpochKeys {
        guard let keys = keyring.epoch(iv.epoch) else {
            logger.error("directory names use key epoch \(iv.epoch), which is not unlocked")
            throw Errno.EIO
        }
        return keys
    }

    /// The backing name of plaintext `name` in directory `dir`.
    func backingName(of name: String, in dir: Inode) throws(Errno) -> (name: String, isLong: Bool, encrypted: String) {
        let bytes = Array(name.utf8)
        try NameCodec.validate(bytes)
        let iv = try directoryIV(of: dir)
        let encrypted = NameCodec.encrypt(bytes, iv: iv.iv, key: try nameKeys(for: iv).nameCipher)
        let b = NameCodec.backingName(forEncrypted: encrypted)
        return (b.name, b.isLong, encrypted)
    }

    /// The plaintext name of backing entry `backing` in `dir`, or nil (reserved, or damaged: logged).
    func plaintextName(ofBacking backing: String, in dir: Inode, iv: DirectoryIV, keys: EpochKeys, quiet: Bool = false) -> String? {
        let encrypted: String
        switch NameCodec.classify(backing) {
        case .encrypted:
            encrypted = backing
        case .long:
            guard case .name(let stored) = LongNameSideFile.read(dirFD: dir.fd, backingName: backing) else {
                logger.error("long-name file missing or damaged", metadata: ["dir": "\(path(of: dir))", "entry": "\(backing)"])
                counters.authenticationFailed(.name)
                return nil
            }
            encrypted = stored
        case .longSideFile, .symlinkTargetFile, .reserved:
            return nil
        }
        guard let plain = NameCodec.decrypt(encrypted, iv: iv.iv, key: keys.nameCipher) else {
            if quiet { return nil }
            logger.error("name does not decrypt", metadata: ["dir": "\(path(of: dir))", "entry": "\(backing)"])
            counters.authenticationFailed(.name)
            return nil
        }
        return String(decoding: plain, as: UTF8.self)
    }

    /// Writes a long name's side file (fsynced) before its entry is created.
    func writeLongNameSideFile(dirFD: Int32, backingName: String, encrypted: String) throws(Errno) {
        let side = NameCodec.sideFileName(forLong: backingName)
        if LongNameSideFile.read(dirFD: dirFD, backingName: backingName) == .name(encrypted) { return }
        let tmp = temporaryName()
        let fd = try sys { openat(dirFD, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o400) }
        let bytes = Array(encrypted.utf8)
        do throws(Errno) {
            let n = try sys { bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
            if n != bytes.count { throw Errno.EIO }
            _ = try sys { Glibc.fsync(fd) }
            close(fd)
            _ = try sys { renameat(dirFD, tmp, dirFD, side) }
        } catch {
            close(fd)
            unlinkat(dirFD, tmp, 0)
            throw error
        }
    }

    func removeLongNameSideFile(dirFD: Int32, backingName: String) {
        unlinkat(dirFD, NameCodec.sideFileName(forLong: backingName), 0)
    }

    func temporaryName() -> String {
        "tdefs.tmp." + Random.bytes(8).map { String($0, radix: 16).leftPad(2) }.joined()
    }

    /// Counts user entries (not IV files, side files, temporaries) in a backing directory.
    func userEntryCount(directoryFD: Int32, stopAfter: Int = Int.max) throws(Errno) -> Int {
        var count = 0
        try BackingEntries.forEachEntry(directoryFD: directoryFD) { name, _, _ in
            switch NameCodec.classify(name) {
            case .encrypted, .long: count += 1
            default: break
            }
            return count < stopAfter
        }
        return count
    }

    // MARK: - Paths and attributes

    /// The plaintext path of an inode, for log lines.
    func path(of inode: Inode) -> String {
        var parts: [String] = []
        var current: Inode? = inode
        var hops = 0
        while let c = current, c.node != Self.rootNode, hops < 4096 {
            guard let loc = c.location.withLock({ $0 }) else { parts.append("?"); break }
            parts.append(loc.name)
            current = try? inodes.get(loc.parent)
            hops += 1
        }
        return "/" + parts.reversed().joined(separator: "/")
    }

    /// The backing stat of an inode, translated to what the mount shows.
    func attributes(of inode: Inode) throws(Errno) -> stat {
        var st = stat()
        _ = try sys { fstatat(inode.fd, "", &st, tdefs_AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) }
        try translate(&st, inode: inode)
        return st
    }

    func translate(_ st: inout stat, inode: Inode) throws(Errno) {
        switch inode.kind {
        case S_IFREG:
            st.st_size = Int(ExtentGeometry.plainSize(backingSize: Int64(st.st_size)))
            if let mtime = inode.content?.deferredMtime.withLock({ $0 }) { st.st_mtim = mtime }
        case S_IFLNK:
            st.st_size = Int(try symlinkTarget(of: inode).count)
        default:
            break
        }
    }

    /// Sets the owner of a new object to the caller; in a set-group-ID directory the group is the
    /// directory's, as on ext4.
    func ownership(in parent: Inode, context: RequestContext) throws(Errno) -> (uid: uid_t, gid: gid_t, setgid: Bool) {
        var pst = stat()
        _ = try sys { fstatat(parent.fd, "", &pst, tdefs_AT_EMPTY_PATH) }
        let setgid = (pst.st_mode & S_ISGID) != 0
        return (context.uid, setgid ? pst.st_gid : context.gid, setgid)
    }

    /// Opens the new entry `backing` in `parent` as an O_PATH descriptor and registers it.
    func register(backing: String, in parent: Inode, name: String, waitingForRoom: Bool = true) throws(Errno) -> Entry {
        let fd = try sys {
            makingRoomForDescriptors(waiting: waitingForRoom) { openat(parent.fd, backing, tdefs_O_PATH | O_NOFOLLOW | O_CLOEXEC) }
        }
        var st = stat()
        do throws(Errno) {
            _ = try sys { fstatat(fd, "", &st, tdefs_AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) }
        } catch {
            close(fd)
            throw error
        }
        let inode = inodes.remember(key: InodeKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino)), fd: fd,
                                    kind: st.st_mode & S_IFMT,
                                    location: InodeLocation(parent: parent.node, name: name, backingName: backing))
        return try entry(for: inode, st)
    }

    /// What the kernel gets for an inode just looked up (one lookup counted): its backing `st`
    /// translated to the plaintext view; the lookup is given back when that fails.
    func entry(for inode: Inode, _ st: stat) throws(Errno) -> Entry {
        var st = st
        do throws(Errno) {
            try translate(&st, inode: inode)
        } catch {
            inodes.forget(inode.node, count: 1)
            throw error
        }
        return Entry(node: inode.node, attr: st)
    }
}

extension FileSystem {
    /// How many inodes the kernel holds; each costs the daemon an open descriptor.
    public var cachedInodeCount: Int { inodes.count }

    /// Calls `handler` (on the requesting thread, so it must only signal) whenever a new inode
    /// makes the kernel hold more than `highWater`.
    /// nil removes the handler (and whatever it holds on to).
    public func onInodePressure(highWater: Int, _ handler: (@Sendable () -> Void)?) {
        inodes.highWater.store(handler == nil ? Int.max : highWater, ordering: .relaxed)
        inodes.pressureHandler.withLock { $0 = handler }
    }

    /// Names (parent node, plaintext name) of up to `limit` cached files and symlinks that nobody
    /// has open, for the adapter to ask the kernel to forget (see CacheTrimmer).
    public func evictionCandidates(limit: Int) -> [(parent: UInt64, name: String)] {
        inodes.evictionCandidates(limit: limit).map { ($0.parent, $0.name) }
    }

    /// Runs `open` (an open that returns a descriptor, or -1 and errno). When the daemon is out of
    /// descriptors while the kernel holds more inodes than the high-water mark, and a cache
    /// trimmer is installed, wakes it and tries again for up to 1 s:
    /// the kernel's forgets close descriptors meanwhile (a burst of lookups can outrun the
    /// trimmer on a loaded machine). Bounded, because the kernel holds the directory's lock
    /// during a lookup, and the trimmer cannot drop entries of that directory until it ends.
    /// Otherwise (or not `waiting`), or if that is not enough, it fails with EMFILE, logged.
    func makingRoomForDescriptors(waiting: Bool = true, _ open: () -> Int32) -> Int32 {
        var attempts = 0
        while true {
            let fd = open()
            guard fd < 0, errno == EMFILE || errno == ENFILE else { return fd }
            let saved = errno
            guard waiting, attempts < 200, inodes.aboveHighWater, inodes.relievePressure() else {
                reportDescriptorExhaustion()
                errno = saved
                return -1
            }
            attempts += 1
            usleep(5_000)
        }
    }

    /// The daemon holds a descriptor for every inode the kernel remembers; when they run out,
    /// lookups fail until the kernel forgets some. Say so, at most once a minute.
    func reportDescriptorExhaustion() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let last = descriptorWarningTime.load(ordering: .relaxed)
        guard now.tv_sec - last >= 60,
              descriptorWarningTime.compareExchange(expected: last, desired: now.tv_sec, ordering: .relaxed).exchanged
        else { return }
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        logger.error("out of file descriptors (limit \(limit.rlim_cur)): the mount holds one per file the kernel caches; raise LimitNOFILE")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
