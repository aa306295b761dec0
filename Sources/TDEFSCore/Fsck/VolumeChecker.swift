import CPlatform
import Glibc
import Logging

/// Checks every IV file, name, long-name file, header, extent tag, symlink target and extended
/// attribute of a volume, reading the backing directory only through descriptors. With `repair`
/// it removes what tdefs itself left behind (orphaned side files, temporaries) and nothing else.
public final class VolumeChecker {
    public typealias Progress = (_ doneBytes: Int64, _ totalBytes: Int64, _ objects: Int) -> Void

    /// tdefs' own files at the top of a backing directory.
    static let rootFiles: Set<String> = ["tdefs.conf", "tdefs.lock", ConfigTransaction.lockName, "tdefs.import"]

    let backingPath: String
    let keyring: Keyring
    let repair: Bool
    let progress: Progress
    var report = FsckReport()
    var totalBytes: Int64 = 0
    var doneBytes: Int64 = 0
    let gcm = AESGCM()
    /// The previous key of a file in the middle of a re-key (its extents open under either).
    let previousGCM = AESGCM()
    /// The root's descriptor while a check runs (side files of long symlink targets live there).
    var rootFD: Int32 = -1
    /// Side files of long symlink targets found at the root, and those some symlink names.
    var targetFiles: [String] = []
    var namedTargetFiles: Set<String> = []
    var buffer = [UInt8](repeating: 0, count: 64 * ExtentGeometry.storedBytes)

    /// The epoch tdefs.conf records a re-encryption towards: re-key records towards it are valid.
    let reencryptTarget: UInt32?
    /// tdefs.conf's formatVersion: whether directory IVs must be authenticated (DirectoryIV.isAcceptable).
    let formatVersion: Int

    public init(backingPath: String, keyring: Keyring, repair: Bool, reencryptTarget: UInt32? = nil,
                formatVersion: Int = VolumeConfig.formatVersion, progress: @escaping Progress = { _, _, _ in }) {
        self.backingPath = backingPath
        self.reencryptTarget = reencryptTarget
        self.formatVersion = formatVersion
        self.keyring = keyring
        self.repair = repair
        self.progress = progress
    }

    public func run() throws(Errno) -> FsckReport {
        let root = try sys { Glibc.open(backingPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(root) }
        rootFD = root
        totalBytes = measure(root)
        try checkDirectory(fd: root, plainPath: "", backingPath: "", isRoot: true)
        checkOrphanedTargetFiles()
        progress(totalBytes, totalBytes, report.files + report.directories + report.symlinks)
        return report
    }

    func problem(_ kind: FsckProblem.Kind, _ plain: String?, _ backing: String, _ detail: String, repairable: Bool = false,
                 repaired: Bool = false) {
        report.problems.append(FsckProblem(kind: kind, path: plain, backingPath: backing, detail: detail,
                                           repairable: repairable, repaired: repaired))
    }

    /// Total backing bytes of regular files, for the progress bar (an iterative walk: see
    /// BackingEntries.walkTree).
    func measure(_ dirFD: Int32) -> Int64 {
        var total: Int64 = 0
        BackingEntries.walkTree(below: dirFD, visit: { _, _, st in
            if (st.st_mode & S_IFMT) == S_IFREG { total += Int64(st.st_size) }
            return (st.st_mode & S_IFMT) == S_IFDIR
        })
        return total
    }

    func checkDirectory(fd: Int32, plainPath: String, backingPath: String, isRoot: Bool) throws(Errno) {
        report.directories += 1
        let ivPath = backingPath + "/" + DirectoryIV.fileName
        var iv: DirectoryIV?
        do {
            iv = try DirectoryIV.read(directoryFD: fd)
        } catch {
            problem(.directoryIV, displayPath(plainPath), ivPath, error.code == ENOENT ? "directory IV file is missing" : "directory IV file is damaged")
        }
        // The IVs names may be under: the current one, and while rotate --reencrypt moves this
        // directory (or was interrupted doing so), the next one (the engine finishes the move).
        var nameIVs: [(DirectoryIV, EpochKeys)] = []
        if let iv {
            if let keys = keyring.epoch(iv.epoch) {
                if iv.isAcceptable(keys: keys, formatVersion: formatVersion, reencryptTarget: reencryptTarget) {
                    nameIVs.append((iv, keys))
                } else {
                    problem(.directoryIV, displayPath(plainPath), ivPath, iv.version >= 2 ? "directory IV file does not authenticate"
                            : "directory IV file is not authenticated (version 1), which this volume's format \(formatVersion) refuses")
                }
            } else {
                problem(.unknownEpoch, displayPath(plainPath), ivPath, "names use key epoch \(iv.epoch), which is not unlocked")
            }
        }
        let pendingIV = pendingDirectoryIV(fd: fd, plainPath: plainPath, backingPath: backingPath)
        if let pendingIV { nameIVs.insert(pendingIV, at: 0) }
        var names: [(String, UInt8)] = []
        try BackingEntries.forEachEntry(directoryFD: fd) { name, _, type in names.append((name, type)); return true }
        let present = Set(names.map { $0.0 })
        for (name, _) in names.sorted(by: { $0.0 < $1.0 }) {
            let bpath = backingPath + "/" + name
            switch NameCodec.classify(name) {
            case .reserved:
                if name == DirectoryIV.fileName || name == DirectoryIV.nextFileName { continue }
                if isRoot && Self.rootFiles.contains(name) { continue }
                if name.hasPrefix("tdefs.tmp.") {
                    var removed = false
                    if repair { BackingEntries.removeTree(dirFD: fd, name: name); removed = true }
                    problem(.leftover, nil, bpath, "temporary file of an interrupted operation", repairable: true, repaired: removed)
                } else {
                    problem(.unexpected, nil, bpath, "a name tdefs does not write")
                }
                continue
            case .longSideFile:
                let main = String(name.dropLast(NameCodec.longSuffix.count))
                if !present.contains(main) {
                    var removed = false
                    if repair { removed = unlinkat(fd, name, 0) == 0 }
                    problem(.longName, nil, bpath, "long-name file without its entry (orphan)", repairable: true, repaired: removed)
                }
                continue
            case .symlinkTargetFile:
                if isRoot { targetFiles.append(name) } else { problem(.unexpected, nil, bpath, "a name tdefs does not write") }
                continue
            case .long, .encrypted:
                break
            }
            var plainName: String?
            if !nameIVs.isEmpty {
                plainName = decryptName(name, dirFD: fd, ivs: nameIVs, plainDir: plainPath, backingPath: bpath)
            }
            let childPlain = plainName.map { plainPath + "/" + $0 }
            try checkObject(dirFD: fd, name: name, plainPath: childPlain, backingPath: bpath)
        }
    }

    /// The next IV of an interrupted name migration (tdefs.diriv.next), if any; damage is a problem.
    func pendingDirectoryIV(fd: Int32, plainPath: String, backingPath: String) -> (DirectoryIV, EpochKeys)? {
        guard faccessat(fd, DirectoryIV.nextFileName, F_OK, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        let path = backingPath + "/" + DirectoryIV.nextFileName
        guard let next = try? DirectoryIV.read(directoryFD: fd, name: DirectoryIV.nextFileName) else {
            problem(.directoryIV, displayPath(plainPath), path, "next directory IV file (of an interrupted rotate --reencrypt) is damaged")
            return nil
        }
        guard let keys = keyring.epoch(next.epoch) else {
            problem(.unknownEpoch, displayPath(plainPath), path, "names move to key epoch \(next.epoch), which is not unlocked")
            return nil
        }
        // A version-1 next IV is one an older release left; the engine tags it when it resumes.
        guard next.isAcceptableAsNext(keys: keys, reencryptTarget: reencryptTarget) else {
            problem(.directoryIV, displayPath(plainPath), path, next.epoch != reencryptTarget
                    ? "next directory IV file names epoch \(next.epoch), but no re-encryption towards it is recorded"
                    : "next directory IV file (of an interrupted rotate --reencrypt) does not authenticate")
            return nil
        }
        return (next, keys)
    }

    func decryptName(_ name: String, dirFD: Int32, ivs: [(DirectoryIV, EpochKeys)], plainDir: String,
                     backingPath: String) -> String? {
        var encrypted = name
        if NameCodec.classify(name) == .long {
            switch LongNameSideFile.read(dirFD: dirFD, backingName: name) {
            case .missing:
                problem(.longName, displayPath(plainDir) + "/?", backingPath, "long-name file is missing")
                return nil
            case .damaged:
                problem(.longName, displayPath(plainDir) + "/?", backingPath, "long-name file is damaged")
                return nil
            case .name(let stored):
                encrypted = stored
            }
        }
        guard let plain = ivs.lazy.compactMap({ NameCodec.decrypt(encrypted, iv: $0.0.iv, key: $0.1.nameCipher) }).first else {
            problem(.name, displayPath(plainDir) + "/?", backingPath, "name does not decrypt (damaged or from another directory)")
            return nil
        }
        return String(decoding: plain, as: UTF8.self)
    }

    func checkObject(dirFD: Int32, name: String, plainPath: String?, backingPath: String) throws(Errno) {
        var st = stat()
        guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            let fd = try sys { openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(fd) }
            try checkDirectory(fd: fd, plainPath: plainPath ?? "/?", backingPath: backingPath, isRoot: false)
            checkXattrs(procFD: fd, keys: directoryXattrKeys(fd), plainPath: plainPath, backingPath: backingPath)
        case S_IFREG:
            report.files += 1
            guard let fd = try? BackingFile.open(name, in: dirFD) else {
                problem(.header, displayPath(plainPath), backingPath, "file cannot be opened (not a regular file any more, or unreadable)")
                return
            }
            defer { close(fd) }
            let keys = checkFile(fd: fd, size: Int64(st.st_size), plainPath: plainPath, backingPath: backingPath)
            if !keys.isEmpty { checkXattrs(procFD: fd, keys: keys, plainPath: plainPath, backingPath: backingPath) }
        case S_IFLNK:
            report.symlinks += 1
            checkSymlink(dirFD: dirFD, name: name, plainPath: plainPath, backingPath: backingPath)
        default:
            report.otherObjects += 1
        }
    }

    func checkSymlink(dirFD: Int32, name: String, plainPath: String?, backingPath: String) {
        switch try? SymlinkTargetStore.read(dirFD: dirFD, name: name, rootFD: rootFD) {
        case .target(let stored, let side)?:
            if let side { namedTargetFiles.insert(side) }
            if SymlinkCodec.decrypt(stored, keyring: keyring) == nil {
                problem(.symlink, displayPath(plainPath), backingPath, "symlink target does not decrypt")
            }
        case .missingSideFile(let side)?:
            namedTargetFiles.insert(side)
            problem(.symlink, displayPath(plainPath), backingPath, "symlink target file \(side) is missing")
        case .damagedSideFile(let side)?:
            namedTargetFiles.insert(side)
            problem(.symlink, displayPath(plainPath), backingPath, "symlink target file \(side) is damaged")
        case nil:
            problem(.symlink, displayPath(plainPath), backingPath, "symlink cannot be read")
        }
    }

    /// Side files of long symlink targets that no symlink names: left by a crash between writing
    /// one and making its symlink, or between removing a symlink's last link and its side file.
    func checkOrphanedTargetFiles() {
        for side in targetFiles.sorted() where !namedTargetFiles.contains(side) {
            var removed = false
            if repair { removed = unlinkat(rootFD, side, 0) == 0 }
            problem(.symlink, nil, "/" + side, "symlink target file without its symlink (orphan)", repairable: true, repaired: removed)
        }
    }

    /// A directory's attribute keys: its IV's epoch's, and the next IV's while a move is pending.
    func directoryXattrKeys(_ fd: Int32) -> [XattrKeys] {
        [DirectoryIV.fileName, DirectoryIV.nextFileName].compactMap { name in
            guard let iv = try? DirectoryIV.read(directoryFD: fd, name: name), let keys = keyring.epoch(iv.epoch) else { return nil }
            return XattrKeys.forDirectory(keys: keys, iv: iv)
        }
    }

    /// Checks the header and every extent; returns the file's xattr keys when the header is good.
    func checkFile(fd: Int32, size: Int64, plainPath: String?, backingPath: String) -> [XattrKeys] {
        defer { doneBytes += size; progress(doneBytes, totalBytes, report.files + report.directories) }
        if size == 0 { return [] }
        var hb = [UInt8](repeating: 0, count: FileHeader.byteCount)
        let n = (try? HeaderLock.withLock(fd: fd, shared: true) { () throws(Errno) -> Int in
            hb.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        }) ?? -1
        guard n == FileHeader.byteCount, let header = FileHeader(parsing: hb) else {
            problem(.header, displayPath(plainPath), backingPath, "file header is damaged")
            return []
        }
        guard let keys = keyring.epoch(header.epoch) else {
            problem(.unknownEpoch, displayPath(plainPath), backingPath, "file key is wrapped under epoch \(header.epoch), which is not unlocked")
            return []
        }
        guard let fileKey = header.unwrap(keys: keys) else {
            problem(.header, displayPath(plainPath), backingPath, "file header does not authenticate")
            return []
        }
        if ExtentGeometry.hasDamagedTail(backingSize: size) {
            problem(.extent, displayPath(plainPath), backingPath, "file ends in a torn extent")
        }
        // An interrupted rotate --reencrypt: the engine reads such a file under both keys (the
        // pending one first), and so does this check; the next rotate --reencrypt finishes it.
        var codec = ExtentCodec(fileID: header.fileID, version: header.version)
        var previous: ExtentCodec?
        var xattrKeys = [XattrKeys.forFile(fileKey: fileKey, fileID: header.fileID, size: header.size)]
        switch RekeyRecord.read(fd: fd, current: header, currentKey: fileKey, keyring: keyring, target: reencryptTarget) {
        case .none:
            gcm.setKey(fileKey, size: header.size)
        case .pending(let next, let nextKey):
            gcm.setKey(nextKey, size: next.size)
            previousGCM.setKey(fileKey, size: header.size)
            previous = codec
            codec = ExtentCodec(fileID: header.fileID, version: next.version)
            xattrKeys.insert(XattrKeys.forFile(fileKey: nextKey, fileID: next.fileID, size: next.size), at: 0)
        case .damaged:
            problem(.header, displayPath(plainPath), backingPath, "re-key record (user.tdefs.rekey) is damaged")
            return xattrKeys
        case .refused(let epoch):
            // The engine reads the file under its header alone; so does this check.
            gcm.setKey(fileKey, size: header.size)
            problem(.header, displayPath(plainPath), backingPath,
                    "re-key record (user.tdefs.rekey) towards epoch \(epoch) is refused: tdefs.conf records no re-encryption towards it (planted or replayed)")
        }
        let plainSize = ExtentGeometry.plainSize(backingSize: size)
        let extents = (plainSize + 4095) / 4096
        var j: Int64 = 0
        let batch = Int64(buffer.count / ExtentGeometry.storedBytes)
        while j < extents {
            let count = min(batch, extents - j)
            let start = ExtentGeometry.backingOffset(ofExtent: j)
            let want = Int(min(Int64(size), ExtentGeometry.backingOffset(ofExtent: j + count)) - start)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(start)) }
            for i in 0..<count {
                let idx = j + i
                let extLen = Int(min(4096, plainSize - idx * 4096))
                let off = Int(i) * ExtentGeometry.storedBytes
                let stored = min(extLen + ExtentGeometry.overhead, max(0, got - off))
                report.extents += 1
                if let why = extentProblem(offset: off, stored: stored, plainLength: extLen, index: idx, atEnd: idx == extents - 1,
                                           codec: codec, previous: previous) {
                    problem(.extent, displayPath(plainPath), backingPath, "extent \(idx) \(why)")
                }
            }
            j += count
        }
        report.bytes += plainSize
        return xattrKeys
    }

    /// nil for a good extent, else what is wrong: ExtentCodec's rules, as the engine reads it.
    func extentProblem(offset: Int, stored: Int, plainLength: Int, index: Int64, atEnd: Bool,
                       codec: ExtentCodec, previous: ExtentCodec?) -> String? {
        buffer.withUnsafeBytes { b -> String? in
            let s = UnsafeRawBufferPointer(rebasing: b[offset..<(offset + stored)])
            return withUnsafeTemporaryAllocation(byteCount: ExtentGeometry.plainBytes, alignment: 16) { out -> String? in
                let o = out.baseAddress!
                if codec.open(extent: index, stored: s, plainLength: plainLength, atEnd: atEnd, into: o, gcm: gcm) != nil { return nil }
                if let previous,
                   previous.open(extent: index, stored: s, plainLength: plainLength, atEnd: atEnd, into: o, gcm: previousGCM) != nil {
                    return nil
                }
                return codec.failure(stored: s, plainLength: plainLength, atEnd: atEnd)
            }
        }
    }

    /// `keys`: the object's attribute keys, the one attributes move to first while a re-key is pending.
    func checkXattrs(procFD: Int32, keys candidates: [XattrKeys], plainPath: String?, backingPath: String) {
        let path = "/proc/self/fd/\(procFD)"
        let size = tdefs_listxattr(path, nil, 0)
        guard size > 0 else { return }
        var buf = [UInt8](repeating: 0, count: size)
        let n = buf.withUnsafeMutableBytes { tdefs_listxattr(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        guard n > 0 else { return }
        for raw in buf[0..<n].split(separator: 0) {
            let name = String(decoding: raw, as: UTF8.self)
            guard name.hasPrefix(XattrCodec.userPrefix), !name.dropFirst(5).contains(".") else { continue }
            guard let keys = candidates.first(where: { XattrCodec.decryptName(name, keys: $0) != nil }) else {
                problem(.xattr, displayPath(plainPath), backingPath, "extended attribute name does not decrypt")
                continue
            }
            let vsize = tdefs_getxattr(path, name, nil, 0)
            var value = [UInt8](repeating: 0, count: max(vsize, 1))
            let vn = value.withUnsafeMutableBytes { tdefs_getxattr(path, name, $0.baseAddress, $0.count) }
            if vn < 0 || XattrCodec.openValue(Array(value[0..<vn]), backingName: name, keys: keys) == nil {
                problem(.xattr, displayPath(plainPath), backingPath, "extended attribute value does not authenticate")
            }
        }
    }

    func displayPath(_ p: String?) -> String { (p?.isEmpty ?? true) ? "/" : p! }
}
