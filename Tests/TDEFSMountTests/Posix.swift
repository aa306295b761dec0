import XCTest
import Glibc
import CPlatform

/// Thin helpers over Glibc for the mount tests: results as values, errno captured.

/// Runs a call that returns -1 and sets errno on failure; returns 0 or the errno.
@discardableResult
func errnoOf(_ body: () -> Int32) -> Int32 {
    errno = 0
    let r = body()
    return r < 0 ? errno : 0
}

func errnoOfSize(_ body: () -> Int) -> Int32 {
    errno = 0
    let r = body()
    return r < 0 ? errno : 0
}

func errName(_ e: Int32) -> String { e == 0 ? "OK" : "\(String(cString: strerror(e))) (\(e))" }

func lstatOrNil(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

func statOrNil(_ path: String) -> stat? {
    var st = stat()
    return stat(path, &st) == 0 ? st : nil
}

struct PosixError: Error, CustomStringConvertible {
    let what: String, code: Int32
    var description: String { "\(what): \(errName(code))" }
}

func check(_ r: Int32, _ what: @autoclosure () -> String) throws {
    if r < 0 { throw PosixError(what: what(), code: errno) }
}

func writeFile(_ path: String, _ data: [UInt8], mode: mode_t = 0o644) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    try check(fd, "open \(path)")
    defer { close(fd) }
    try writeAll(fd, data, at: 0, what: path)
}

func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
    try writeFile(path, Array(text.utf8), mode: mode)
}

func writeAll(_ fd: Int32, _ data: [UInt8], at offset: Int64, what: String = "pwrite") throws {
    var done = 0
    while done < data.count {
        let n = data.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, data.count - done, off_t(offset) + off_t(done)) }
        if n < 0 { throw PosixError(what: what, code: errno) }
        done += n
    }
}

func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    try check(fd, "open \(path)")
    defer { close(fd) }
    return try readAll(fd)
}

func readAll(_ fd: Int32) throws -> [UInt8] {
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    var off: off_t = 0
    while true {
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off) }
        if n < 0 { throw PosixError(what: "pread", code: errno) }
        if n == 0 { return out }
        out += buf[0..<n]
        off += off_t(n)
    }
}

/// pread of exactly up to `count` bytes (loops on short reads); nil and errno on failure.
func preadBytes(_ fd: Int32, count: Int, at offset: Int64) -> (bytes: [UInt8], errno: Int32) {
    var buf = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
        if n < 0 { return ([], errno) }
        if n == 0 { break }
        done += n
    }
    return (Array(buf[0..<done]), 0)
}

func listDir(_ path: String) throws -> [String] {
    guard let d = opendir(path) else { throw PosixError(what: "opendir \(path)", code: errno) }
    defer { closedir(d) }
    var names = [String]()
    while true {
        errno = 0
        guard let ent = readdir(d) else {
            if errno != 0 { throw PosixError(what: "readdir \(path)", code: errno) }
            break
        }
        let name = withUnsafePointer(to: &ent.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Every name readdir returns, "." and ".." included, in order.
func listDirRaw(_ path: String) throws -> [String] {
    guard let d = opendir(path) else { throw PosixError(what: "opendir \(path)", code: errno) }
    defer { closedir(d) }
    var names = [String]()
    while let ent = readdir(d) {
        names.append(withUnsafePointer(to: &ent.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        })
    }
    return names
}

func readLink(_ path: String) -> String? {
    var buf = [CChar](repeating: 0, count: 8192)
    let n = readlink(path, &buf, buf.count - 1)
    guard n >= 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func readLinkBytes(_ path: String) -> [UInt8]? {
    var buf = [CChar](repeating: 0, count: 8192)
    let n = readlink(path, &buf, buf.count - 1)
    guard n >= 0 else { return nil }
    return buf[0..<n].map { UInt8(bitPattern: $0) }
}

/// The xattr calls, looked up in libc at run time (Swift's Glibc module does not include sys/xattr.h).
enum XattrCalls {
    typealias Get = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    typealias Set = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    typealias List = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int) -> Int
    typealias Remove = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32

    private static func sym<T>(_ name: String, _: T.Type) -> T {
        guard let p = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { fatalError("libc has no \(name)") }
        return unsafeBitCast(p, to: T.self)
    }
    static let lget = sym("lgetxattr", Get.self)
    static let lset = sym("lsetxattr", Set.self)
    static let llist = sym("llistxattr", List.self)
    static let lremove = sym("lremovexattr", Remove.self)
}

func lgetxattr(_ path: String, _ name: String, _ value: UnsafeMutableRawPointer?, _ size: Int) -> Int {
    XattrCalls.lget(path, name, value, size)
}
func lsetxattr(_ path: String, _ name: String, _ value: UnsafeRawPointer?, _ size: Int, _ flags: Int32) -> Int32 {
    XattrCalls.lset(path, name, value, size, flags)
}
func llistxattr(_ path: String, _ list: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int {
    XattrCalls.llist(path, list, size)
}
func lremovexattr(_ path: String, _ name: String) -> Int32 { XattrCalls.lremove(path, name) }
let XATTR_CREATE: Int32 = 1
let XATTR_REPLACE: Int32 = 2

/// llistxattr: the attribute names (bytes, as raw names may not be UTF-8).
func listXattrs(_ path: String) -> [[UInt8]] {
    let size = llistxattr(path, nil, 0)
    guard size > 0 else { return [] }
    var buf = [CChar](repeating: 0, count: size)
    let n = llistxattr(path, &buf, size)
    guard n > 0 else { return [] }
    return buf[0..<n].split(separator: 0).map { $0.map { UInt8(bitPattern: $0) } }
}

func getXattr(_ path: String, _ name: String) -> (value: [UInt8], errno: Int32) {
    let size = lgetxattr(path, name, nil, 0)
    if size < 0 { return ([], errno) }
    var buf = [UInt8](repeating: 0, count: max(size, 1))
    let n = lgetxattr(path, name, &buf, buf.count)
    if n < 0 { return ([], errno) }
    return (Array(buf[0..<n]), 0)
}

func setXattr(_ path: String, _ name: String, _ value: [UInt8], flags: Int32 = 0) -> Int32 {
    errnoOf { value.withUnsafeBytes { lsetxattr(path, name, $0.baseAddress, value.count, flags) } }
}

func renameat2(_ from: String, _ to: String, _ flags: UInt32) -> Int32 {
    errnoOf { tdefs_renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) }
}

/// A small deterministic generator (SplitMix64), so that failures replay from a printed seed.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var i = 0
        while i < n {
            var v = next()
            for _ in 0..<8 where i < n { out[i] = UInt8(truncatingIfNeeded: v); v >>= 8; i += 1 }
        }
        return out
    }
}

/// One entry of a directory tree, for whole-tree comparisons.
struct TreeEntry: Equatable, CustomStringConvertible {
    var type: String
    var mode: UInt32
    var size: Int64
    var nlink: UInt64
    var content: [UInt8]? = nil
    var target: String? = nil
    var xattrs: [String: [UInt8]] = [:]
    var mtime: timespec? = nil

    static func == (a: TreeEntry, b: TreeEntry) -> Bool {
        a.type == b.type && a.mode == b.mode && a.size == b.size && a.nlink == b.nlink && a.content == b.content
            && a.target == b.target && a.xattrs == b.xattrs
            && a.mtime?.tv_sec == b.mtime?.tv_sec && a.mtime?.tv_nsec == b.mtime?.tv_nsec
    }

    var description: String {
        var s = "\(type) mode=\(String(mode, radix: 8)) size=\(size) nlink=\(nlink)"
        if let c = content { s += " content=\(c.count)B" }
        if let t = target { s += " target=\(t)" }
        if !xattrs.isEmpty { s += " xattrs=\(xattrs.keys.sorted())" }
        if let m = mtime { s += " mtime=\(m.tv_sec).\(m.tv_nsec)" }
        return s
    }
}

func typeName(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFREG: return "file"
    case S_IFDIR: return "dir"
    case S_IFLNK: return "symlink"
    case S_IFIFO: return "fifo"
    case S_IFSOCK: return "socket"
    case S_IFCHR: return "chr"
    case S_IFBLK: return "blk"
    default: return "?"
    }
}

/// Walks a tree (not following symlinks): relative path -> entry. The root itself is "".
func snapshotTree(_ root: String, xattrs: Bool = false, mtimes: Bool = false) throws -> [String: TreeEntry] {
    var out = [String: TreeEntry]()
    func visit(_ rel: String) throws {
        let path = rel.isEmpty ? root : root + "/" + rel
        guard let st = lstatOrNil(path) else { throw PosixError(what: "lstat \(path)", code: errno) }
        var e = TreeEntry(type: typeName(st.st_mode), mode: UInt32(st.st_mode & 0o7777), size: Int64(st.st_size),
                          nlink: UInt64(st.st_nlink))
        if mtimes { e.mtime = st.st_mtim }
        if xattrs {
            for n in listXattrs(path) {
                let name = String(decoding: n, as: UTF8.self)
                e.xattrs[name] = getXattr(path, name).value
            }
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: e.content = try readFile(path)
        case S_IFLNK: e.target = readLink(path)
        case S_IFDIR:
            if !rel.isEmpty { e.size = 0 }  // directory sizes are filesystem-specific
            for name in try listDir(path) { try visit(rel.isEmpty ? name : rel + "/" + name) }
        default: break
        }
        if rel.isEmpty { e.size = 0 }
        out[rel] = e
    }
    try visit("")
    return out
}

/// Compares two snapshots; returns human-readable differences (empty when equal).
func treeDifferences(_ a: [String: TreeEntry], _ b: [String: TreeEntry], labels: (String, String)) -> [String] {
    var diffs = [String]()
    for k in Set(a.keys).union(b.keys).sorted() {
        switch (a[k], b[k]) {
        case let (x?, y?) where x != y:
            var d = "'\(k)': \(labels.0): \(x) | \(labels.1): \(y)"
            if let c1 = x.content, let c2 = y.content, c1 != c2 {
                let first = (0..<min(c1.count, c2.count)).first { c1[$0] != c2[$0] } ?? min(c1.count, c2.count)
                d += " (contents differ first at byte \(first))"
            }
            diffs.append(d)
        case (nil, _?): diffs.append("'\(k)' only in \(labels.1)")
        case (_?, nil): diffs.append("'\(k)' only in \(labels.0)")
        default: break
        }
    }
    return diffs
}

/// Damages ciphertext the way the tamper tests do: flips `mask` in one byte, `offset` bytes into
/// extent `extent` of the only backing file (in `backing`, unmounted) that holds `extents` full
/// extents. Throws unless exactly one such file exists.
func damageExtent(_ extent: Int, ofTheFileWith extents: Int, in backing: String, offset: Int = 40, mask: UInt8 = 0x80) throws {
    let size = 96 + extents * 4128
    let files = try listDir(backing).filter { !$0.contains(".") && lstatOrNil(backing + "/" + $0)?.st_size == size }
    guard files.count == 1 else { throw HarnessError("\(files.count) backing files of \(size) bytes, expected one") }
    let fd = open(backing + "/" + files[0], O_RDWR)
    try check(fd, "open backing file")
    defer { close(fd) }
    let at = off_t(96 + extent * 4128 + offset)
    var byte: UInt8 = 0
    guard pread(fd, &byte, 1, at) == 1 else { throw HarnessError("pread: \(errName(errno))") }
    byte ^= mask
    guard pwrite(fd, &byte, 1, at) == 1 else { throw HarnessError("pwrite: \(errName(errno))") }
}
