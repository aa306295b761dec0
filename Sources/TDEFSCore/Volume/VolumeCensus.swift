import Glibc

/// How many regular files each key epoch covers, read from the files' headers without a key.
public struct FileCensus: Equatable, Sendable {
    /// Regular files by the epoch their header names. Empty files (no header yet) count under the
    /// current epoch, which their header will name.
    public var filesPerEpoch: [UInt32: Int] = [:]
    /// Directories by the epoch of their IV file (the key of their names).
    public var directoriesPerEpoch: [UInt32: Int] = [:]
    /// Symlinks by the epoch of their target's key.
    public var symlinksPerEpoch: [UInt32: Int] = [:]
    /// Files whose first 96 bytes are not a version-1 header.
    public var damagedHeaders = 0
    /// Entries that could not be opened or read.
    public var unreadable = 0
    public init() {}

    /// Objects of any kind under `epoch`: when 0, the epoch can be retired.
    public func uses(of epoch: UInt32) -> Int {
        filesPerEpoch[epoch, default: 0] + directoriesPerEpoch[epoch, default: 0] + symlinksPerEpoch[epoch, default: 0]
    }
}

/// Walks a backing directory (openat, never following symlinks) and reads each regular file's header.
public enum VolumeCensus {
    public static func count(backingPath: String, currentEpoch: UInt32) throws(VolumeError) -> FileCensus {
        let dir = try BackingDirectory(path: backingPath)
        var census = FileCensus()
        let root = fcntl(dir.fd, F_DUPFD_CLOEXEC, 0)
        guard root >= 0 else { throw .io(path: backingPath, operation: "open", errno: .current) }
        walk(root, rootFD: dir.fd, currentEpoch: currentEpoch, into: &census)
        return census
    }

    /// Entries of a backing directory that are users' objects: encrypted names (no '.') and long-name
    /// entries `tdefs.long.<hash>` (not their `.name` side files). Everything else is reserved.
    public static func isUserEntry(_ name: String) -> Bool {
        if name == "." || name == ".." { return false }
        if !name.utf8.contains(UInt8(ascii: ".")) { return true }
        let prefix = "tdefs.long."
        guard name.hasPrefix(prefix) else { return false }
        return !name.dropFirst(prefix.count).utf8.contains(UInt8(ascii: "."))
    }

    /// Takes ownership of `fd` (closes it).
    private static func walk(_ fd: Int32, rootFD: Int32, currentEpoch: UInt32, into census: inout FileCensus) {
        if let iv = try? DirectoryIV.read(directoryFD: fd) {
            census.directoriesPerEpoch[iv.epoch, default: 0] += 1
        } else {
            census.unreadable += 1
        }
        guard let dir = fdopendir(fd) else { close(fd); census.unreadable += 1; return }
        defer { closedir(dir) }
        var subdirs: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard isUserEntry(name) else { continue }
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { census.unreadable += 1; continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                subdirs.append(name)
            case S_IFREG:
                if st.st_size == 0 {
                    census.filesPerEpoch[currentEpoch, default: 0] += 1
                } else if let epoch = headerEpoch(parent: fd, name: name, census: &census) {
                    census.filesPerEpoch[epoch, default: 0] += 1
                }
            case S_IFLNK:
                if let epoch = symlinkEpoch(parent: fd, name: name, rootFD: rootFD) {
                    census.symlinksPerEpoch[epoch, default: 0] += 1
                } else {
                    census.unreadable += 1
                }
            default:
                break
            }
        }
        for name in subdirs {
            let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if sub < 0 { census.unreadable += 1; continue }
            walk(sub, rootFD: rootFD, currentEpoch: currentEpoch, into: &census)
        }
    }

    private static func headerEpoch(parent: Int32, name: String, census: inout FileCensus) -> UInt32? {
        guard let f = try? BackingFile.open(name, in: parent) else { census.unreadable += 1; return nil }
        defer { close(f) }
        var buf = [UInt8](repeating: 0, count: FileHeader.byteCount)
        var got = 0
        while got < buf.count {
            let n = buf.withUnsafeMutableBytes { pread(f, $0.baseAddress! + got, $0.count - got, off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { census.unreadable += 1; return nil }
            if n == 0 { break }
            got += n
        }
        guard got == buf.count, let header = FileHeader(parsing: buf) else { census.damagedHeaders += 1; return nil }
        return header.epoch
    }

    /// The epoch in the first 4 bytes of an encrypted symlink target (docs/format.md).
    private static func symlinkEpoch(parent: Int32, name: String, rootFD: Int32) -> UInt32? {
        guard case .target(let stored, _)? = try? SymlinkTargetStore.read(dirFD: parent, name: name, rootFD: rootFD) else { return nil }
        return SymlinkCodec.epoch(ofStored: stored)
    }
}
