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
/// A mounted volume's daemon keeps the same counts up to date itself (LiveCensus).
public enum VolumeCensus {
    public static func count(backingPath: String, currentEpoch: UInt32) throws(VolumeError) -> FileCensus {
        let dir = try BackingDirectory(path: backingPath)
        var tally = CensusTally()
        tally.add((try? DirectoryIV.read(directoryFD: dir.fd)).map { .directory($0.epoch) } ?? .unreadable)
        let root = fcntl(dir.fd, F_DUPFD_CLOEXEC, 0)
        guard root >= 0 else { throw .io(path: backingPath, operation: "open", errno: .current) }
        walkContents(root, rootFD: dir.fd, into: &tally)
        return tally.census(currentEpoch: currentEpoch)
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

    /// Counts every user entry below the directory `fd` (each directory where it is listed, its
    /// contents below it). Takes ownership of `fd` (closes it).
    static func walkContents(_ fd: Int32, rootFD: Int32, into tally: inout CensusTally) {
        guard let dir = fdopendir(fd) else { close(fd); tally.add(.unreadable); return }
        defer { closedir(dir) }
        var subdirs: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard isUserEntry(name) else { continue }
            let entry = CensusEntry.classify(parentFD: fd, name: name, rootFD: rootFD)
            tally.add(entry)
            if entry.isDirectory { subdirs.append(name) }
        }
        for name in subdirs {
            let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if sub < 0 { tally.add(.unreadable); continue }
            walkContents(sub, rootFD: rootFD, into: &tally)
        }
    }
}
