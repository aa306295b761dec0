import Glibc

/// What one backing entry counts as in a census (see VolumeCensus and LiveCensus).
enum CensusEntry: Equatable, Sendable {
    /// A regular file whose header names this epoch.
    case file(UInt32)
    /// A regular file without a header yet (empty): counted under the current epoch.
    case headerless
    /// A directory whose IV file names this epoch (the key of its names).
    case directory(UInt32)
    /// A symlink whose target is under this epoch.
    case symlink(UInt32)
    /// A regular file whose first 96 bytes are not a header.
    case damagedHeader
    /// An entry that could not be opened or read.
    case unreadable
    /// A directory whose IV file could not be read: unreadable, but its contents are still counted.
    case directoryWithoutIV
    /// Anything else (device nodes, FIFOs, sockets): not counted.
    case other

    var isDirectory: Bool {
        switch self {
        case .directory, .directoryWithoutIV: return true
        default: return false
        }
    }

    /// Classifies entry `name` of the backing directory `parentFD` (openat, never following symlinks).
    static func classify(parentFD: Int32, name: String, rootFD: Int32) -> CensusEntry {
        var st = stat()
        guard fstatat(parentFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return .unreadable }
        return classify(parentFD: parentFD, name: name, st, rootFD: rootFD)
    }

    /// The same, from the caller's fstatat (AT_SYMLINK_NOFOLLOW) of the entry.
    static func classify(parentFD: Int32, name: String, _ st: stat, rootFD: Int32) -> CensusEntry {
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            let fd = openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return .unreadable }
            defer { close(fd) }
            guard let iv = try? DirectoryIV.read(directoryFD: fd) else { return .directoryWithoutIV }
            return .directory(iv.epoch)
        case S_IFREG:
            return st.st_size == 0 ? .headerless : headerEpoch(parentFD: parentFD, name: name)
        case S_IFLNK:
            guard case .target(let stored, _)? = try? SymlinkTargetStore.read(dirFD: parentFD, name: name, rootFD: rootFD),
                  let epoch = SymlinkCodec.epoch(ofStored: stored) else { return .unreadable }
            return .symlink(epoch)
        default:
            return .other
        }
    }

    private static func headerEpoch(parentFD: Int32, name: String) -> CensusEntry {
        guard let f = try? BackingFile.open(regular: name, in: parentFD) else { return .unreadable }
        defer { close(f) }
        return withUnsafeTemporaryAllocation(byteCount: FileHeader.byteCount, alignment: 8) { buf in
            var got = 0
            while got < buf.count {
                let n = pread(f, buf.baseAddress! + got, buf.count - got, off_t(got))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return .unreadable }
                if n == 0 { break }
                got += n
            }
            guard got == buf.count, let header = FileHeader(parsing: UnsafeRawBufferPointer(buf)) else { return .damagedHeader }
            return .file(header.epoch)
        }
    }
}

/// Counts by kind and epoch; entries are added and taken away as the tree changes.
struct CensusTally: Equatable, Sendable {
    var files: [UInt32: Int] = [:]
    var directories: [UInt32: Int] = [:]
    var symlinks: [UInt32: Int] = [:]
    var headerless = 0
    var damagedHeaders = 0
    var unreadable = 0

    mutating func add(_ entry: CensusEntry, _ sign: Int = 1) {
        switch entry {
        case .file(let e): files[e, default: 0] += sign
        case .headerless: headerless += sign
        case .directory(let e): directories[e, default: 0] += sign
        case .symlink(let e): symlinks[e, default: 0] += sign
        case .damagedHeader: damagedHeaders += sign
        case .unreadable, .directoryWithoutIV: unreadable += sign
        case .other: break
        }
    }

    /// The census as `status` and `retire` read it: files without a header count under the current epoch.
    func census(currentEpoch: UInt32) -> FileCensus {
        func positive(_ m: [UInt32: Int]) -> [UInt32: Int] { m.filter { $0.value > 0 } }
        var c = FileCensus()
        c.filesPerEpoch = positive(files)
        if headerless > 0 { c.filesPerEpoch[currentEpoch, default: 0] += headerless }
        c.directoriesPerEpoch = positive(directories)
        c.symlinksPerEpoch = positive(symlinks)
        c.damagedHeaders = max(0, damagedHeaders)
        c.unreadable = max(0, unreadable)
        return c
    }
}
