import CPlatform
import Glibc

/// A path inside an eCryptfs lower directory, as lower (on-disk, possibly encrypted) names.
public struct ECryptfsPath: Hashable, Sendable, CustomStringConvertible {
    public var lowerComponents: [[UInt8]]
    public init(lowerComponents: [[UInt8]] = []) { self.lowerComponents = lowerComponents }
    public static let root = ECryptfsPath()
    public func appending(_ lowerName: [UInt8]) -> ECryptfsPath { ECryptfsPath(lowerComponents: lowerComponents + [lowerName]) }
    public var isRoot: Bool { lowerComponents.isEmpty }
    /// "/" joined lower names, for messages.
    public var description: String {
        "/" + lowerComponents.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
    }
}

public enum ECryptfsEntryKind: Sendable, Equatable { case regular, directory, symlink, other }

/// One directory entry of the lower directory.
public struct ECryptfsEntry: @unchecked Sendable {
    public let path: ECryptfsPath
    public let lowerName: [UInt8]
    /// The plaintext name: decrypted from a tag 70 name, or the lower name itself when it has no
    /// ECRYPTFS_FNEK_ENCRYPTED. prefix (plaintext names; the kernel passes those through). Nil
    /// when the name could not be decrypted (see nameError).
    public let name: [UInt8]?
    public let nameError: ECryptfsError?
    public let kind: ECryptfsEntryKind
    /// The lower file's lstat, with st_size replaced by the plaintext size for regular files
    /// whose header could be read.
    public let stat: stat
    /// Set when a regular file's header is damaged or wants another key; st_size is then the
    /// lower size.
    public let headerError: ECryptfsError?
}

/// Reads an eCryptfs lower directory without the kernel: names, attributes, symlink targets,
/// user.* xattrs and (through ECryptfsFile) contents. All access is through descriptors and
/// *at() calls with O_NOFOLLOW; files are opened O_RDONLY (O_NOATIME where permitted); nothing
/// in the lower directory is ever modified. Thread-safe: methods may be called concurrently
/// (each call opens its own descriptors below the root descriptor; derived keys are cached
/// behind a lock).
///
/// eCryptfs has no integrity protection: a changed ciphertext byte decrypts to garbage in its
/// 16-byte block and the next one, undetected. What is detected: damaged headers (marker,
/// lengths, packet types), keys whose signature matches no given passphrase, names whose
/// tag 70 packet does not parse or decrypt to a separator and a name.
public final class ECryptfsLowerDirectory: @unchecked Sendable {
    public let rootPath: String
    public let keys: ECryptfsKeys
    private let rootFD: Int32

    public init(path: String, keys: ECryptfsKeys) throws(ECryptfsError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, errno: errno) }
        rootPath = path
        self.keys = keys
        rootFD = fd
    }

    deinit { close(rootFD) }

    func display(_ p: ECryptfsPath) -> String {
        rootPath + (p.isRoot ? "" : p.description)
    }

    /// An O_DIRECTORY descriptor for `p` (the caller closes it).
    func openDirectory(_ p: ECryptfsPath) throws(ECryptfsError) -> Int32 {
        // A new open file description each time (a dup would share the directory offset that
        // readdir advances, between concurrent or successive listings).
        var fd = openat(rootFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: rootPath, errno: errno) }
        for c in p.lowerComponents {
            let n = c.withUnsafeBufferPointer { b in
                String(decoding: b, as: UTF8.self) == "" ? -1 : openat(fd, cString(c), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let e = errno
            close(fd)
            guard n >= 0 else { throw .io(path: display(p), errno: e == 0 ? EINVAL : e) }
            fd = n
        }
        return fd
    }

    private func parent(_ p: ECryptfsPath) throws(ECryptfsError) -> (Int32, [UInt8]) {
        guard let last = p.lowerComponents.last else { throw .io(path: rootPath, errno: EINVAL) }
        return (try openDirectory(ECryptfsPath(lowerComponents: Array(p.lowerComponents.dropLast()))), last)
    }

    /// Decrypts a lower name or symlink target: a tag 70 name when it has the FNEK prefix, the
    /// bytes themselves otherwise.
    public func decodeName(_ lower: [UInt8], path: String) throws(ECryptfsError) -> [UInt8] {
        guard ECryptfsFilenameEncoding.isEncrypted(lower) else { return lower }
        guard let packet = ECryptfsFilenameEncoding.decode(lower[ECryptfsFilenameEncoding.prefix.count...]) else {
            throw .malformed(path: path, what: "encrypted name has characters outside eCryptfs' filename alphabet")
        }
        let t70 = try ECryptfsTag70Packet.parse(packet, path: path)
        guard let fnek = keys.fnek(signature: t70.signature) else { throw .wrongKey(path: path, signature: t70.signature) }
        guard let name = t70.decrypt(fnek: fnek) else {
            throw .malformed(path: path, what: "encrypted name does not decrypt to a name (no separator)")
        }
        return name
    }

    private static func kind(_ st: stat) -> ECryptfsEntryKind {
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// The entries of a directory (without . and ..), in readdir order. Entries whose name or
    /// header fails are returned with nameError / headerError set; two entries with the same
    /// `name` are a plaintext-name collision (see `collisions(in:)`).
    public func entries(of directory: ECryptfsPath) throws(ECryptfsError) -> [ECryptfsEntry] {
        let fd = try openDirectory(directory)
        // A descriptor of its own, not a dup: a dup shares the directory offset (of the root's
        // descriptor, for the root), and a second listing would start at the end.
        let listFD = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listFD >= 0, let dir = fdopendir(listFD) else {
            let e = errno; close(fd); if listFD >= 0 { close(listFD) }
            throw .io(path: display(directory), errno: e)
        }
        defer { closedir(dir); close(fd) }
        var names: [[UInt8]] = []
        while let ent = readdir(dir) {
            let n = withUnsafeBytes(of: ent.pointee.d_name) { b in Array(b.prefix(while: { $0 != 0 })) }
            if n == [0x2E] || n == [0x2E, 0x2E] { continue }
            names.append(n)
        }
        var out: [ECryptfsEntry] = []
        for lower in names {
            let p = directory.appending(lower)
            var st = Glibc.stat()
            guard fstatat(fd, cString(lower), &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT { continue }
                throw .io(path: display(p), errno: errno)
            }
            var name: [UInt8]?
            var nameError: ECryptfsError?
            do { name = try decodeName(lower, path: display(p)) } catch { nameError = error }
            var headerError: ECryptfsError?
            let k = Self.kind(st)
            if k == .regular {
                do {
                    let h = try readHeader(dirFD: fd, name: lower, path: p)
                    st.st_size = Int(h.header.size)
                } catch { headerError = error }
            } else if k == .symlink, let size = try? targetSize(dirFD: fd, name: lower, path: p) {
                st.st_size = size
            }
            out.append(ECryptfsEntry(path: p, lowerName: lower, name: name, nameError: nameError, kind: k, stat: st, headerError: headerError))
        }
        return out
    }

    /// Groups of entries whose lower names differ but decrypt to the same plaintext name.
    public static func collisions(in entries: [ECryptfsEntry]) -> [[ECryptfsEntry]] {
        var byName: [[UInt8]: [ECryptfsEntry]] = [:]
        for e in entries { if let n = e.name { byName[n, default: []].append(e) } }
        return byName.values.filter { $0.count > 1 }
    }

    /// lstat of `p`, with the plaintext size for a regular file (from its header).
    public func stat(_ p: ECryptfsPath) throws(ECryptfsError) -> stat {
        if p.isRoot {
            var st = Glibc.stat()
            guard fstat(rootFD, &st) == 0 else { throw .io(path: rootPath, errno: errno) }
            return st
        }
        let (fd, name) = try parent(p)
        defer { close(fd) }
        var st = Glibc.stat()
        guard fstatat(fd, cString(name), &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw .io(path: display(p), errno: errno) }
        if Self.kind(st) == .regular { st.st_size = Int(try readHeader(dirFD: fd, name: name, path: p).header.size) }
        if Self.kind(st) == .symlink, let size = try? targetSize(dirFD: fd, name: name, path: p) { st.st_size = size }
        return st
    }

    /// A symlink's size is its plaintext target's length, as the kernel's eCryptfs reports it
    /// (the lower symlink holds the longer encrypted target).
    private func targetSize(dirFD: Int32, name: [UInt8], path p: ECryptfsPath) throws(ECryptfsError) -> Int {
        try readLink(dirFD: dirFD, name: name, path: p).count
    }

    /// The plaintext target of symlink `p` (eCryptfs encrypts targets like names).
    public func readLink(_ p: ECryptfsPath) throws(ECryptfsError) -> [UInt8] {
        let (fd, name) = try parent(p)
        defer { close(fd) }
        return try readLink(dirFD: fd, name: name, path: p)
    }

    private func readLink(dirFD fd: Int32, name: [UInt8], path p: ECryptfsPath) throws(ECryptfsError) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: Int(PATH_MAX) * 2)
        let n = buf.withUnsafeMutableBufferPointer { b in readlinkat(fd, cString(name), b.baseAddress!, b.count) }
        guard n >= 0 else { throw .io(path: display(p), errno: errno) }
        return try decodeName(Array(buf[0..<n]), path: display(p))
    }

    /// Opens regular file `p`: its header parsed, its FEK unwrapped (wrongKey when no given
    /// passphrase matches its key signature).
    public func openFile(_ p: ECryptfsPath) throws(ECryptfsError) -> ECryptfsFile {
        let (dfd, name) = try parent(p)
        defer { close(dfd) }
        let fd = try openLower(dirFD: dfd, name: name, path: p, directory: false)
        do {
            let (h, inXattr, packets) = try readHeader(fd: fd, path: p)
            let fek = try unwrapFEK(packets, path: display(p))
            return ECryptfsFile(fd: fd, path: display(p), size: Int64(h.size), dataOffset: inXattr ? 0 : Int64(h.metadataSize),
                                cipher: ECryptfsExtentCipher(fek: fek), header: h, metadataInXattr: inXattr)
        } catch {
            close(fd)
            throw error
        }
    }

    /// The user.* extended attributes of `p` other than user.ecryptfs (the xattr metadata), in
    /// listing order. Symlinks have none.
    public func extendedAttributes(_ p: ECryptfsPath) throws(ECryptfsError) -> [(name: String, value: [UInt8])] {
        let st = try self.stat(p)
        let k = Self.kind(st)
        guard k == .regular || k == .directory else { return [] }
        let fd: Int32
        if p.isRoot {
            fd = openat(rootFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw .io(path: rootPath, errno: errno) }
        } else {
            let (dfd, name) = try parent(p)
            defer { close(dfd) }
            fd = try openLower(dirFD: dfd, name: name, path: p, directory: k == .directory)
        }
        defer { close(fd) }
        let proc = "/proc/self/fd/\(fd)"
        var size = tdefs_listxattr(proc, nil, 0)
        guard size >= 0 else { if errno == ENOTSUP { return [] }; throw .io(path: display(p), errno: errno) }
        var list = [CChar](repeating: 0, count: size + 1)
        size = list.withUnsafeMutableBufferPointer { tdefs_listxattr(proc, $0.baseAddress, size) }
        guard size >= 0 else { throw .io(path: display(p), errno: errno) }
        var out: [(name: String, value: [UInt8])] = []
        var start = 0
        for i in 0..<size where list[i] == 0 {
            let n = String(decoding: list[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            start = i + 1
            guard n.hasPrefix("user."), n != "user.ecryptfs" else { continue }
            let vs = tdefs_fgetxattr(fd, n, nil, 0)
            guard vs >= 0 else { throw .io(path: display(p), errno: errno) }
            var v = [UInt8](repeating: 0, count: vs)
            let got = v.withUnsafeMutableBytes { tdefs_fgetxattr(fd, n, $0.baseAddress, vs) }
            guard got >= 0 else { throw .io(path: display(p), errno: errno) }
            out.append((n, Array(v[0..<got])))
        }
        return out
    }

    // MARK: - internals

    private func openLower(dirFD: Int32, name: [UInt8], path: ECryptfsPath, directory: Bool) throws(ECryptfsError) -> Int32 {
        let base = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | (directory ? O_DIRECTORY : O_NONBLOCK)
        var fd = openat(dirFD, cString(name), base | tdefs_O_NOATIME)
        if fd < 0 && errno == EPERM { fd = openat(dirFD, cString(name), base) }
        guard fd >= 0 else { throw .io(path: display(path), errno: errno) }
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0, Self.kind(st) == (directory ? .directory : .regular) else {
            close(fd)
            throw .io(path: display(path), errno: EIO)
        }
        return fd
    }

    struct Header { let header: ECryptfsFileHeader; let inXattr: Bool; let packets: ECryptfsPacketSet }

    private func readHeader(dirFD: Int32, name: [UInt8], path: ECryptfsPath) throws(ECryptfsError) -> Header {
        let fd = try openLower(dirFD: dirFD, name: name, path: path, directory: false)
        defer { close(fd) }
        let (h, x, p) = try readHeader(fd: fd, path: path)
        return Header(header: h, inXattr: x, packets: p)
    }

    /// The header from the file's first extent, or, when that has no marker, from user.ecryptfs
    /// (the kernel's order in ecryptfs_read_metadata).
    private func readHeader(fd: Int32, path: ECryptfsPath) throws(ECryptfsError) -> (ECryptfsFileHeader, Bool, ECryptfsPacketSet) {
        let shown = display(path)
        var page = [UInt8](repeating: 0, count: ECryptfsExtentCipher.extentSize)
        let n = page.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { throw .io(path: shown, errno: errno) }
        page = Array(page[0..<n])
        let fromFile: ECryptfsError
        do {
            let h = try ECryptfsFileHeader.parse(page, path: shown, validateHeaderSize: true)
            let ps = try ECryptfsPacketSet.parse(page[ECryptfsFileHeader.packetSetOffset...], path: shown)
            return (h, false, ps)
        } catch { fromFile = error }
        var x = [UInt8](repeating: 0, count: ECryptfsExtentCipher.extentSize)
        let xn = x.withUnsafeMutableBytes { tdefs_fgetxattr(fd, "user.ecryptfs", $0.baseAddress, $0.count) }
        guard xn > 0 else { throw fromFile }
        x = Array(x[0..<xn])
        let h = try ECryptfsFileHeader.parse(x, path: shown + " (user.ecryptfs)", validateHeaderSize: false)
        let ps = try ECryptfsPacketSet.parse(x[ECryptfsFileHeader.packetSetOffset...], path: shown + " (user.ecryptfs)")
        return (h, true, ps)
    }

    private func unwrapFEK(_ ps: ECryptfsPacketSet, path: String) throws(ECryptfsError) -> SecureBytes {
        for k in ps.passphraseKeys {
            guard let fekek = keys.fekek(for: k) else { continue }
            let out = SecureBytes(count: k.tag3.encryptedKey.count)
            let ok = fekek.withUnsafeBytes { kb in
                out.withUnsafeMutableBytes { o in
                    k.tag3.encryptedKey.withUnsafeBytes { i in
                        ECryptfsCrypto.aesDecrypt(mode: .ecb, key: UnsafeRawBufferPointer(rebasing: kb[0..<k.tag3.keyBytes]), iv: nil, input: i, output: o)
                    }
                }
            }
            guard ok else { throw .malformed(path: path, what: "file key could not be decrypted") }
            return out.prefix(k.tag3.keyBytes)
        }
        throw .wrongKey(path: path, signature: ps.passphraseKeys[0].signature)
    }

    /// Checks the keys against one file's key signature without reading contents: call before
    /// writing anything so a wrong passphrase is refused early.
    public func verifyKey(for p: ECryptfsPath) throws(ECryptfsError) {
        _ = try openFile(p)
    }
}

/// A NUL-terminated copy of a name for the *at() calls.
func cString(_ b: [UInt8]) -> [CChar] { b.map { CChar(bitPattern: $0) } + [0] }
