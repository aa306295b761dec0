import CPlatform
import Glibc
import TDEFSCore

/// One entry of an import source: `display` names it in messages; `plainPath` is the path for a
/// plain directory source, `lower` the lower-name path for an eCryptfs source.
struct SourceItem {
    let display: String
    let plainPath: String
    let lower: ECryptfsPath
}

/// A regular file's contents, read sequentially.
protocol SourceContent: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
}

/// What the Importer copies from: a plain directory tree (PlainSource) or an eCryptfs lower
/// directory decrypted in userspace (ECryptfsSource). Only reads, never writes.
protocol ImportSource: AnyObject {
    var root: SourceItem { get }
    /// lstat; st_size is the plaintext size.
    func lstat(_ item: SourceItem) throws -> stat
    /// Children, sorted bytewise by plaintext name; entries that cannot be imported are left out
    /// and recorded in `refused` (the same ones on every call).
    func children(_ dir: SourceItem) throws -> [(name: String, item: SourceItem)]
    func readLink(_ item: SourceItem) throws -> String
    func open(_ item: SourceItem) throws -> SourceContent
    /// user.* attributes to copy; others are reported in `warnings`.
    func xattrs(_ item: SourceItem, warnings: inout [String]) throws -> [(name: String, value: [UInt8])]
    /// Entries left out, "path: why", deduplicated.
    var refused: [String] { get }
}

extension ImportSource {
    /// Counts the source tree (entries below the root, and regular-file bytes) for the progress bar
    /// and the journal's identity check.
    func survey() throws -> ImportJournal.Source {
        let st = try lstat(root)
        guard st.st_mode & S_IFMT == S_IFDIR else { throw CLIError(.usage, "\(root.display) is not a directory") }
        var entries = 0
        var bytes: Int64 = 0
        var holder: String?
        var ignored: [String] = []
        func note(_ item: SourceItem) throws {
            if holder == nil, !(try xattrs(item, warnings: &ignored)).isEmpty { holder = item.display }
        }
        try note(root)
        func walk(_ dir: SourceItem) throws {
            for (_, item) in try children(dir) {
                let s = try lstat(item)
                entries += 1
                try note(item)
                switch s.st_mode & S_IFMT {
                case S_IFDIR: try walk(item)
                case S_IFREG: bytes += Int64(s.st_size)
                default: break
                }
            }
        }
        try walk(root)
        return ImportJournal.Source(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), entries: entries + 1, bytes: bytes,
                                    firstAttributeHolder: holder)
    }
}

/// A plaintext directory tree.
final class PlainSource: ImportSource {
    let root: SourceItem
    var refused: [String] { [] }

    init(_ path: String) { root = SourceItem(display: path, plainPath: path, lower: .root) }

    func lstat(_ item: SourceItem) throws -> stat {
        var st = stat()
        guard Glibc.lstat(item.plainPath, &st) == 0 else { throw CLIError(.failure, "\(item.display): \(String(cString: strerror(errno)))") }
        return st
    }

    func children(_ dir: SourceItem) throws -> [(name: String, item: SourceItem)] {
        try Importer.listSource(dir.plainPath).map { name in
            let p = dir.plainPath + "/" + name
            return (name, SourceItem(display: p, plainPath: p, lower: .root))
        }
    }

    func readLink(_ item: SourceItem) throws -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(item.plainPath, &buf, buf.count - 1)
        guard n >= 0 else { throw CLIError(.failure, "readlink \(item.display): \(String(cString: strerror(errno)))") }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    final class Content: SourceContent {
        let fd: Int32
        let display: String
        init(fd: Int32, display: String) { self.fd = fd; self.display = display }
        deinit { close(fd) }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            while true {
                let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw CLIError(.failure, "read \(display): \(String(cString: strerror(errno)))") }
                return n
            }
        }
    }

    func open(_ item: SourceItem) throws -> SourceContent {
        let fd = Importer.openSource(item.plainPath, O_RDONLY)
        guard fd >= 0 else { throw CLIError(.failure, "cannot open \(item.display): \(String(cString: strerror(errno)))") }
        return Content(fd: fd, display: item.display)
    }

    func xattrs(_ item: SourceItem, warnings: inout [String]) throws -> [(name: String, value: [UInt8])] {
        let path = item.plainPath
        let size = tdefs_llistxattr(path, nil, 0)
        if size < 0 {
            if errno == ENOTSUP { return [] }
            throw CLIError(.failure, "listxattr \(path): \(String(cString: strerror(errno)))")
        }
        if size == 0 { return [] }
        var list = [CChar](repeating: 0, count: size)
        let n = tdefs_llistxattr(path, &list, size)
        guard n >= 0 else { throw CLIError(.failure, "listxattr \(path): \(String(cString: strerror(errno)))") }
        let names = list[0..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        var out: [(name: String, value: [UInt8])] = []
        for name in names {
            guard name.hasPrefix("user.") else {
                // security.*, trusted.*, POSIX ACLs: not supported by tdefs (docs/posix-differences.md).
                if name != "security.selinux" {
                    warnings.append("\(path): extended attribute \(name) not imported (only user.* attributes are supported)")
                }
                continue
            }
            let vsize = tdefs_lgetxattr(path, name, nil, 0)
            guard vsize >= 0 else { throw CLIError(.failure, "getxattr \(path) \(name): \(String(cString: strerror(errno)))") }
            var value = [UInt8](repeating: 0, count: vsize)
            let got = value.withUnsafeMutableBytes { tdefs_lgetxattr(path, name, $0.baseAddress, $0.count) }
            guard got >= 0 else { throw CLIError(.failure, "getxattr \(path) \(name): \(String(cString: strerror(errno)))") }
            out.append((name, Array(value[0..<got])))
        }
        return out
    }
}

/// An eCryptfs lower directory, decrypted with ECryptfsLowerDirectory. Entries whose name does
/// not decrypt or whose file header is damaged are refused (reported, not imported); two lower
/// names that decrypt to one plaintext name stop the import; a wrong passphrase (no file's or
/// name's key signature matches) is refused before anything is written (`checkKeys`).
final class ECryptfsSource: ImportSource {
    let lower: ECryptfsLowerDirectory
    let root: SourceItem
    private var refusedSet: [String: Void] = [:]
    private(set) var refused: [String] = []
    /// The AES key size of the files' FEKs seen so far (for the default volume cipher).
    private(set) var keySizes: Set<Int> = []

    init(path: String, keys: ECryptfsKeys) throws {
        do { lower = try ECryptfsLowerDirectory(path: path, keys: keys) } catch { throw CLIError(.failure, "\(error)") }
        root = SourceItem(display: path, plainPath: path, lower: .root)
    }

    private func refuse(_ why: String) {
        if refusedSet.updateValue((), forKey: why) == nil { refused.append(why) }
    }

    private func wrap<T>(_ body: () throws(ECryptfsError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            // A passphrase that matches no key signature is a wrong key (exit 10), as for mount --ecryptfs.
            if case .wrongKey = error { throw CLIError(.wrongKey, error.description) }
            throw CLIError(.failure, error.description)
        }
    }

    func lstat(_ item: SourceItem) throws -> stat { try wrap { () throws(ECryptfsError) in try lower.stat(item.lower) } }

    func children(_ dir: SourceItem) throws -> [(name: String, item: SourceItem)] {
        let entries = try wrap { () throws(ECryptfsError) in try lower.entries(of: dir.lower) }
        for group in ECryptfsLowerDirectory.collisions(in: entries) {
            let names = group.map { String(decoding: $0.lowerName, as: UTF8.self) }.sorted().joined(separator: ", ")
            throw CLIError(.failure, "\(dir.display): the lower names \(names) decrypt to the same name "
                           + "\"\(String(decoding: group[0].name!, as: UTF8.self))\"; nothing is overwritten: resolve this in the source first")
        }
        var out: [(name: String, item: SourceItem, raw: [UInt8])] = []
        for e in entries {
            let shown = dir.display + "/" + String(decoding: e.lowerName, as: UTF8.self)
            if let err = e.nameError { refuse("\(err)"); continue }
            if let err = e.headerError { refuse("\(err)"); continue }
            guard let name = String(validating: e.name!, as: UTF8.self) else {
                refuse("\(shown): the decrypted name is not valid UTF-8; tdefs import cannot copy it"); continue
            }
            let plainShown = (dir.plainPath == root.plainPath && dir.lower.isRoot ? "" : dir.plainPath) + "/" + name
            out.append((name, SourceItem(display: "\(root.display): \(plainShown) (lower \(shown))", plainPath: plainShown, lower: e.path), e.name!))
        }
        out.sort { $0.raw.lexicographicallyPrecedes($1.raw) }
        return out.map { ($0.name, $0.item) }
    }

    func readLink(_ item: SourceItem) throws -> String {
        let t = try wrap { () throws(ECryptfsError) in try lower.readLink(item.lower) }
        return String(decoding: t, as: UTF8.self)
    }

    final class Content: SourceContent {
        let file: ECryptfsFile
        init(_ f: ECryptfsFile) { file = f }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            do { return try file.read(into: buffer, at: offset) } catch { throw CLIError(.failure, error.description) }
        }
    }

    func open(_ item: SourceItem) throws -> SourceContent {
        let f = try wrap { () throws(ECryptfsError) in try lower.openFile(item.lower) }
        keySizes.insert(f.keyBytes)
        return Content(f)
    }

    func xattrs(_ item: SourceItem, warnings: inout [String]) throws -> [(name: String, value: [UInt8])] {
        try wrap { () throws(ECryptfsError) in try lower.extendedAttributes(item.lower) }
    }

    /// Opens the first regular file found (depth first) to check that the passphrase unwraps its
    /// key; returns its FEK size (nil for a tree without files). A wrong passphrase throws.
    func checkKeys() throws -> Int? {
        func first(_ dir: SourceItem) throws -> SourceItem? {
            let entries = try wrap { () throws(ECryptfsError) in try lower.entries(of: dir.lower) }
            for e in entries where e.nameError == nil && e.headerError == nil && e.kind == .regular {
                return SourceItem(display: "", plainPath: "", lower: e.path)
            }
            for e in entries where e.kind == .directory && e.nameError == nil {
                if let f = try first(SourceItem(display: "", plainPath: "", lower: e.path)) { return f }
            }
            if let wrong = entries.compactMap({ $0.nameError }).first(where: { if case .wrongKey = $0 { return true }; return false }),
               entries.allSatisfy({ $0.nameError != nil || !ECryptfsFilenameEncoding.isEncrypted($0.lowerName) }) {
                throw CLIError(.wrongKey, "\(wrong)")
            }
            return nil
        }
        guard let f = try first(root) else { return nil }
        let file = try wrap { () throws(ECryptfsError) in try lower.openFile(f.lower) }
        return file.keyBytes
    }
}
