import Glibc
import TDEFSCore

/// BACKING/tdefs.import: the resume point of an import, so an interrupted `tdefs import` continues
/// where it stopped. The name has a '.', so it can never be a user's (encrypted) name; fsck reports
/// it while an import is unfinished, and a finished import removes it.
///
/// Text, one record a line:
///     tdefs-import 1
///     source DEV:INO ENTRIES BYTES      identity and size of the source tree (checked on resume)
///     done N                            the first N entries (in import order) are complete and durable
/// A `done` line is appended (and the journal fsynced) only after syncfs() of the backing
/// filesystem, so every entry it counts is on disk. It holds no names, paths or contents.
struct ImportJournal {
    static let fileName = "tdefs.import"

    struct Source: Equatable {
        var dev: UInt64
        var ino: UInt64
        var entries: Int
        var bytes: Int64
        /// The first entry found holding a user.* extended attribute (its display path), which
        /// decides a new volume's profile; not recorded in the journal, not compared.
        var firstAttributeHolder: String? = nil

        static func == (a: Source, b: Source) -> Bool {
            a.dev == b.dev && a.ino == b.ino && a.entries == b.entries && a.bytes == b.bytes
        }
    }

    let backing: String
    let path: String
    private(set) var fd: Int32 = -1

    init(backing: String) {
        self.backing = backing
        path = backing + "/" + Self.fileName
    }

    /// Opens the journal (a regular file only, see BackingFile).
    private func open(flags: Int32) throws -> Int32 {
        let dir = try BackingDirectory(path: backing)
        do {
            return try BackingFile.open(Self.fileName, in: dir, flags: flags)
        } catch VolumeError.io(_, _, let e) {
            throw CLIError(.failure, "cannot open \(path): \(e)")
        }
    }

    var exists: Bool { access(path, F_OK) == 0 }

    /// Reads an existing journal: its source identity and the number of completed entries.
    func load() throws -> (Source, Int) {
        let fd = try open(flags: O_RDONLY)
        defer { Glibc.close(fd) }
        var bytes = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += buf[0..<n]
            if bytes.count > 16 << 20 { break }
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first == "tdefs-import 1", lines.count >= 2 else {
            throw CLIError(.corruptVolume, "\(path) is not a tdefs import journal")
        }
        let f = lines[1].split(separator: " ")
        let di = f.count == 4 ? f[1].split(separator: ":") : []
        guard f.count == 4, f[0] == "source", di.count == 2, let dev = UInt64(di[0]), let ino = UInt64(di[1]),
              let entries = Int(f[2]), let total = Int64(f[3]) else {
            throw CLIError(.corruptVolume, "\(path): damaged source line")
        }
        var done = 0
        for line in lines.dropFirst(2) {
            // A line cut by a crash has no final newline only at the very end; parse what is whole.
            let g = line.split(separator: " ")
            if g.count == 2, g[0] == "done", let n = Int(g[1]), n >= done { done = n }
        }
        return (Source(dev: dev, ino: ino, entries: entries, bytes: total), done)
    }

    /// Creates the journal (durably) for a new import.
    mutating func create(_ source: Source) throws {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError(.failure, "cannot create \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        try append("tdefs-import 1\nsource \(source.dev):\(source.ino) \(source.entries) \(source.bytes)\n")
        try syncDirectory()
    }

    /// Opens an existing journal for appending.
    mutating func reopen() throws {
        fd = try open(flags: O_WRONLY | O_APPEND)
        // A crash may have left a cut last line: start ours on a line of its own.
        try append("\n")
    }

    /// Records that the first `n` entries are complete. The caller has made them durable first.
    func checkpoint(_ n: Int) throws { try append("done \(n)\n") }

    private func append(_ s: String) throws {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let w = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if w < 0 && errno == EINTR { continue }
            guard w > 0 else { throw CLIError(.failure, "cannot write \(path): \(String(cString: strerror(errno)))") }
            off += w
        }
        guard fsync(fd) == 0 else { throw CLIError(.failure, "cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }

    private func syncDirectory() throws {
        let dir = String(path.dropLast(Self.fileName.count + 1))
        let dfd = Glibc.open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return }
        defer { Glibc.close(dfd) }
        _ = fsync(dfd)
    }

    /// The import is complete: remove the journal (durably).
    mutating func finish() throws {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
        guard unlink(path) == 0 else { throw CLIError(.failure, "cannot remove \(path): \(String(cString: strerror(errno)))") }
        try syncDirectory()
    }

    mutating func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }
}
