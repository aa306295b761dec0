import CPlatform
import Glibc
import Logging
import TDEFSCore

/// Copies a plaintext directory tree into an unlocked volume through the filesystem engine (no
/// mount): regular files, directories, symlinks, hard links, FIFOs, device nodes and sockets, with
/// their owners, modes, user.* extended attributes and times (a file's times after its content and
/// attributes, a directory's after its children).
///
/// The source is only read: everything is opened O_RDONLY | O_NOFOLLOW, with tdefs_O_NOATIME where the
/// kernel allows it (owner or root), so not even access times change.
///
/// Entries are imported in a fixed order (names sorted bytewise, a directory completing after its
/// children), numbered as they complete. Every `checkpointBytes` or `checkpointEntries` the backing
/// filesystem is synced and the count recorded in the journal; a resumed import skips the entries
/// counted there, and redoes (replaces) whatever the entries after them left behind.
final class Importer {
    struct Stats {
        var entries = 0
        var files = 0
        var bytes: Int64 = 0
        var skippedEntries = 0
        var warnings: [String] = []
    }

    let source: ImportSource
    let backing: String
    let fs: FileSystem
    let bar: ProgressBar
    let checkpointBytes: Int64 = 256 << 20
    /// TDEFS_IMPORT_CHECKPOINT_ENTRIES overrides the entry interval (tests use small ones).
    let checkpointEntries = getenv("TDEFS_IMPORT_CHECKPOINT_ENTRIES").flatMap { Int(String(cString: $0)) } ?? 512

    private var journal: ImportJournal
    private var resumeAfter = 0
    private var backingFD: Int32 = -1
    private var sinceCheckpointBytes: Int64 = 0
    private var sinceCheckpointEntries = 0
    private(set) var stats = Stats()
    private var totalBytes: Int64 = 0
    /// (dev, ino) of a multiply linked source file -> its first imported path (components).
    private var links: [String: [String]] = [:]
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)

    init(source: ImportSource, backing: String, fs: FileSystem, journal: ImportJournal, resumeAfter: Int, totalBytes: Int64, bar: ProgressBar) {
        self.source = source
        self.backing = backing
        self.fs = fs
        self.journal = journal
        self.resumeAfter = resumeAfter
        self.totalBytes = totalBytes
        self.bar = bar
    }

    /// Counts the source tree (entries below the root, and regular-file bytes) for the progress bar
    /// and the journal's identity check.
    static func survey(_ root: String) throws -> ImportJournal.Source { try PlainSource(root).survey() }

    /// The names in a source directory, sorted bytewise. Names that are not UTF-8 cannot be imported.
    static func listSource(_ dir: String) throws -> [String] {
        let fd = openSource(dir, O_RDONLY | O_DIRECTORY)
        guard fd >= 0, let d = fdopendir(fd) else {
            throw CLIError(.failure, "cannot read directory \(dir): \(String(cString: strerror(errno)))")
        }
        defer { closedir(d) }
        var names: [[UInt8]] = []
        while let e = readdir(d) {
            let raw = withUnsafeBytes(of: e.pointee.d_name) { p in Array(p.prefix { $0 != 0 }) }
            if raw == [46] || raw == [46, 46] { continue }
            names.append(raw)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        return try names.map { raw in
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw CLIError(.failure, "\(dir): a name is not valid UTF-8; tdefs import cannot copy it")
            }
            return s
        }
    }

    /// open(2) of a source path: read-only, never following a symlink, without touching its atime
    /// where the kernel allows tdefs_O_NOATIME.
    static func openSource(_ path: String, _ flags: Int32) -> Int32 {
        let base = flags | O_NOFOLLOW | O_CLOEXEC
        let fd = open(path, base | tdefs_O_NOATIME)
        if fd < 0 && errno == EPERM { return open(path, base) }
        return fd
    }

    func run() throws -> Stats {
        backingFD = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard backingFD >= 0 else { throw CLIError(.failure, "cannot open \(backing): \(String(cString: strerror(errno)))") }
        defer { close(backingFD) }
        let st = try source.lstat(source.root)
        try importDirectory(source.root, components: [], node: FileSystem.rootNode, st: st)
        try checkpoint()
        bar.update(doneBytes: stats.bytes, totalBytes: totalBytes, items: stats.files, force: true)
        bar.finish()
        return stats
    }

    /// The root's times once more, after the journal is gone (removing it changed the backing root's mtime).
    func restoreRootTimes() throws {
        let st = try source.lstat(source.root)
        var times = AttributeChanges()
        times.atime = .set(st.st_atim)
        times.mtime = .set(st.st_mtim)
        _ = try engine([], "utimens") { () throws(Errno) in try fs.setattr(FileSystem.rootNode, file: nil, times) }
        let fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = tdefs_syncfs(fd); close(fd) }
    }

    // MARK: - Entries

    /// Directory `path` (already present in the volume as `node`): its children, then its own attributes.
    private func importDirectory(_ path: SourceItem, components: [String], node: UInt64, st: stat) throws {
        for (name, childPath) in try source.children(path) {
            let cs = try source.lstat(childPath)
            let comps = components + [name]
            if cs.st_mode & S_IFMT == S_IFDIR {
                let child: Entry
                if let existing = try? fs.lookup(parent: node, name: name) {
                    child = existing // made before an interruption (or finished, and then skipped below)
                } else {
                    child = try engine(comps, "mkdir") {
                        () throws(Errno) in try fs.mkdir(parent: node, name: name, mode: 0o700, context: context(cs))
                    }
                }
                defer { fs.forget(child.node, count: 1) }
                try importDirectory(childPath, components: comps, node: child.node, st: cs)
            } else {
                try importLeaf(childPath, components: comps, parent: node, name: name, st: cs)
            }
        }
        try complete(components) { () throws in
            try setAttributes(node, path: path, components: components, st: st, isRoot: components.isEmpty)
        }
    }

    /// A non-directory entry.
    private func importLeaf(_ path: SourceItem, components: [String], parent: UInt64, name: String, st: stat) throws {
        let kind = st.st_mode & S_IFMT
        let linkKey = "\(st.st_dev):\(st.st_ino)"
        let firstLink = kind != S_IFDIR && st.st_nlink > 1 ? links[linkKey] : nil
        if kind != S_IFDIR && st.st_nlink > 1 && firstLink == nil { links[linkKey] = components }
        if stats.entries < resumeAfter {
            // Completed and durable before the interruption.
            if kind == S_IFREG && firstLink == nil { stats.files += 1; stats.bytes += Int64(st.st_size) }
            stats.entries += 1
            stats.skippedEntries += 1
            return
        }
        // Whatever an interrupted run left under this name is replaced.
        if let old = try? fs.lookup(parent: parent, name: name) {
            fs.forget(old.node, count: 1)
            try engine(components, "unlink") { () throws(Errno) in try fs.unlink(parent: parent, name: name) }
        }
        if let firstLink {
            let target = try resolve(firstLink)
            defer { fs.forget(target, count: 1) }
            let e = try engine(components, "link") { () throws(Errno) in try fs.link(target, newParent: parent, newName: name) }
            fs.forget(e.node, count: 1)
            try complete(components) {}
            return
        }
        try complete(components) { () throws in
            switch kind {
            case S_IFREG:
                try copyFile(path, components: components, parent: parent, name: name, st: st)
            case S_IFLNK:
                let target = try source.readLink(path)
                let e = try engine(components, "symlink") {
                    () throws(Errno) in try fs.symlink(target: target, parent: parent, name: name, context: context(st))
                }
                defer { fs.forget(e.node, count: 1) }
                try setAttributes(e.node, path: path, components: components, st: st, isRoot: false)
            default:
                // FIFOs, sockets and device nodes: recreated as they are.
                let e = try engine(components, "mknod") {
                    () throws(Errno) in try fs.mknod(parent: parent, name: name, mode: st.st_mode, rdev: st.st_rdev, context: context(st))
                }
                defer { fs.forget(e.node, count: 1) }
                try setAttributes(e.node, path: path, components: components, st: st, isRoot: false)
            }
        }
    }

    private func copyFile(_ path: SourceItem, components: [String], parent: UInt64, name: String, st: stat) throws {
        let src = try source.open(path)
        let (entry, file) = try engine(components, "create") {
            () throws(Errno) in try fs.create(parent: parent, name: name, mode: 0o600, flags: O_WRONLY | O_EXCL, context: context(st))
        }
        defer { fs.release(file); fs.forget(entry.node, count: 1) }
        var offset: Int64 = 0
        var sawHole = false
        while true {
            let n = try buffer.withUnsafeMutableBytes { try src.read(into: $0, at: offset) }
            if n == 0 { break }
            // Whole blocks of zeros are skipped: holes in a v1 volume; in v2 the engine writes them as
            // encrypted zeros when the file grows past them.
            var at = 0
            while at < n {
                let chunk = min(65536, n - at)
                let zero = buffer[at..<at + chunk].allSatisfy { $0 == 0 }
                if zero {
                    sawHole = true
                } else {
                    let written = try buffer.withUnsafeBytes { raw in
                        try engine(components, "write") { () throws(Errno) in
                            try writeAll(file, offset: offset + Int64(at), UnsafeRawBufferPointer(rebasing: raw[at..<at + chunk]))
                        }
                    }
                    _ = written
                }
                at += chunk
            }
            offset += Int64(n)
            stats.bytes += Int64(n)
            sinceCheckpointBytes += Int64(n)
            bar.update(doneBytes: stats.bytes, totalBytes: totalBytes, items: stats.files)
        }
        if sawHole {
            var size = AttributeChanges()
            size.size = UInt64(offset)
            _ = try engine(components, "truncate") { () throws(Errno) in try fs.setattr(entry.node, file: file, size) }
        }
        stats.files += 1
        try setAttributes(entry.node, path: path, components: components, st: st, isRoot: false, file: file)
    }

    private func writeAll(_ file: OpenFile, offset: Int64, _ data: UnsafeRawBufferPointer) throws(Errno) -> Int {
        var done = 0
        while done < data.count {
            let n = try fs.write(file, offset: offset + Int64(done), from: UnsafeRawBufferPointer(rebasing: data[done...]))
            if n <= 0 { throw Errno.EIO }
            done += n
        }
        return done
    }

    /// Extended attributes, owner, mode, then times: in that order, since a chown clears set-id bits
    /// and every change before the times would move them.
    private func setAttributes(_ node: UInt64, path: SourceItem, components: [String], st: stat, isRoot: Bool, file: OpenFile? = nil) throws {
        let kind = st.st_mode & S_IFMT
        if kind != S_IFLNK { try copyXattrs(path, node: node, components: components) }
        var owner = AttributeChanges()
        owner.uid = st.st_uid
        owner.gid = st.st_gid
        _ = try engine(components, "chown") { () throws(Errno) in try fs.setattr(node, file: file, owner) }
        if kind != S_IFLNK {
            var mode = AttributeChanges()
            mode.mode = st.st_mode & 0o7777
            _ = try engine(components, "chmod") { () throws(Errno) in try fs.setattr(node, file: file, mode) }
        }
        var times = AttributeChanges()
        times.atime = .set(st.st_atim)
        times.mtime = .set(st.st_mtim)
        _ = try engine(components, "utimens") { () throws(Errno) in try fs.setattr(node, file: file, times) }
    }

    private func copyXattrs(_ path: SourceItem, node: UInt64, components: [String]) throws {
        for (name, value) in try source.xattrs(path, warnings: &stats.warnings) {
            try value.withUnsafeBytes { raw in
                try engine(components, "setxattr \(name)") { () throws(Errno) in
                    try fs.setxattr(node, name: name, value: raw, flags: 0)
                }
            }
        }
    }

    // MARK: - Bookkeeping

    /// Runs `body` for the next entry unless it completed before an interruption, then counts it.
    private func complete(_ components: [String], _ body: () throws -> Void) throws {
        if stats.entries >= resumeAfter {
            try body()
        } else {
            stats.skippedEntries += 1
        }
        stats.entries += 1
        sinceCheckpointEntries += 1
        if sinceCheckpointBytes >= checkpointBytes || sinceCheckpointEntries >= checkpointEntries { try checkpoint() }
    }

    /// Makes everything imported so far durable, then records it.
    private func checkpoint() throws {
        guard stats.entries > resumeAfter || sinceCheckpointEntries > 0 else { return }
        guard tdefs_syncfs(backingFD) == 0 else { throw CLIError(.failure, "syncfs \(backing): \(String(cString: strerror(errno)))") }
        try journal.checkpoint(stats.entries)
        sinceCheckpointBytes = 0
        sinceCheckpointEntries = 0
    }

    /// The node of an already imported path (a lookup reference the caller forgets).
    private func resolve(_ components: [String]) throws -> UInt64 {
        var node = FileSystem.rootNode
        for (i, c) in components.enumerated() {
            let e = try engine(components, "lookup") { () throws(Errno) in try fs.lookup(parent: node, name: c) }
            if i > 0 { fs.forget(node, count: 1) }
            node = e.node
        }
        return node
    }

    private func context(_ st: stat) -> RequestContext { RequestContext(uid: st.st_uid, gid: st.st_gid, pid: getpid()) }

    /// Runs an engine call, turning its errno into a message naming the plaintext path.
    private func engine<T>(_ components: [String], _ what: String, _ body: () throws(Errno) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw CLIError(.failure, "import of /\(components.joined(separator: "/")) failed: \(what): \(error)")
        }
    }
}

