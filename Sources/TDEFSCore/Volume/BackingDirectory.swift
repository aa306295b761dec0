import Glibc

/// An open backing directory (O_DIRECTORY | O_NOFOLLOW), for openat-family calls relative to it.
public final class BackingDirectory {
    public let path: String
    public let fd: Int32

    /// Opens `path`; `.backingMissing` when it does not exist or is not a directory.
    public init(path: String) throws(VolumeError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ENOENT || e == ENOTDIR { throw .backingMissing(path: path) }
            throw .io(path: path, operation: "open", errno: Errno(e))
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// True when the directory has no entries besides "." and "..".
    public func isEmpty() throws(VolumeError) -> Bool {
        let dup = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard dup >= 0, let dir = fdopendir(dup) else {
            let e = Errno.current
            throw .io(path: path, operation: "read directory", errno: e)
        }
        defer { closedir(dir) }
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { return false }
        }
        return true
    }

    /// Whole contents of a regular file in this directory (see BackingFile), at most `limit` bytes.
    /// nil when the file does not exist; `.notRegularFile` when something else is there.
    func readFile(_ name: String, limit: Int) throws(VolumeError) -> [UInt8]? {
        let file: Int32
        do throws(VolumeError) {
            file = try BackingFile.open(name, in: self)
        } catch {
            if case .io(_, _, let e) = error, e == .ENOENT { return nil }
            throw error
        }
        defer { close(file) }
        var st = stat()
        guard fstat(file, &st) == 0 else { throw .io(path: path + "/" + name, operation: "stat", errno: .current) }
        guard st.st_size <= limit else { throw .io(path: path + "/" + name, operation: "read", errno: .EFBIG) }
        var buf = [UInt8](repeating: 0, count: limit + 1)
        var total = 0
        while total < buf.count {
            let n = buf.withUnsafeMutableBytes { pread(file, $0.baseAddress! + total, $0.count - total, off_t(total)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path + "/" + name, operation: "read", errno: .current)
            }
            if n == 0 { break }
            total += n
        }
        guard total <= limit else { throw .io(path: path + "/" + name, operation: "read", errno: .EFBIG) }
        return Array(buf[0..<total])
    }

    /// Writes `bytes` to `name` atomically: tdefs.tmp.<hex> is written and fsynced, renamed over
    /// `name`, and the directory is fsynced. The file gets `mode` regardless of the umask.
    func writeFileAtomically(_ name: String, bytes: [UInt8], mode: mode_t) throws(VolumeError) {
        let tmp = "tdefs.tmp." + Self.hex(Random.bytes(8))
        let tmpPath = path + "/" + tmp
        let file = openat(fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard file >= 0 else { throw .io(path: tmpPath, operation: "create", errno: .current) }
        var renamed = false
        defer { if !renamed { unlinkat(fd, tmp, 0) } }
        do {
            defer { close(file) }
            try Self.writeAll(file, bytes, path: tmpPath, mode: mode)
        }
        guard renameat(fd, tmp, fd, name) == 0 else { throw .io(path: path + "/" + name, operation: "rename", errno: .current) }
        renamed = true
        guard fsync(fd) == 0 else { throw .io(path: path, operation: "fsync", errno: .current) }
    }

    private static func writeAll(_ file: Int32, _ bytes: [UInt8], path: String, mode: mode_t) throws(VolumeError) {
        guard fchmod(file, mode) == 0 else { throw .io(path: path, operation: "chmod", errno: .current) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(file, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "write", errno: .current)
            }
            written += n
        }
        guard fsync(file) == 0 else { throw .io(path: path, operation: "fsync", errno: .current) }
    }

    /// Lower-case hex of some bytes (temporary names, never key material).
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
