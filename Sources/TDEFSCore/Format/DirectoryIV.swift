import Glibc

/// The 28-byte `tdefs.diriv` file of every backing directory (docs/format.md).
public struct DirectoryIV: Equatable, Sendable {
    public static let fileName = "tdefs.diriv"
    /// The next IV while a directory's names are re-encrypted (rotate --reencrypt).
    public static let nextFileName = "tdefs.diriv.next"
    public static let byteCount = 28
    static let magic: [UInt8] = Array("TDDI".utf8)

    public var epoch: UInt32
    public var iv: [UInt8]

    public init(epoch: UInt32, iv: [UInt8]) {
        precondition(iv.count == 16)
        self.epoch = epoch
        self.iv = iv
    }

    public static func random(epoch: UInt32) -> DirectoryIV { DirectoryIV(epoch: epoch, iv: Random.bytes(16)) }

    public var bytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        b.replaceSubrange(0..<4, with: Self.magic)
        b[4] = 1
        b.replaceSubrange(8..<12, with: BigEndian.bytes32(epoch))
        b.replaceSubrange(12..<28, with: iv)
        return b
    }

    /// nil when the bytes are not a version-1 IV file.
    public init?(parsing b: [UInt8]) {
        guard b.count == Self.byteCount, Array(b[0..<4]) == Self.magic, b[4] == 1,
              b[5] == 0, b[6] == 0, b[7] == 0 else { return nil }
        epoch = b[8..<12].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
        iv = Array(b[12..<28])
    }

    /// Reads the IV file in a backing directory. ENOENT when missing, EIO when malformed or not a
    /// regular file (see BackingFile).
    public static func read(directoryFD: Int32, name: String = fileName) throws(Errno) -> DirectoryIV {
        let fd = try BackingFile.open(name, in: directoryFD)
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: byteCount + 1)
        let n = try sys { buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) } }
        guard let iv = DirectoryIV(parsing: Array(buf[0..<n])) else { throw Errno.EIO }
        return iv
    }

    /// Writes and fsyncs a new IV file (O_EXCL) in a backing directory, mode 0400.
    public func write(directoryFD: Int32, name: String = fileName) throws(Errno) {
        let fd = try sys { openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o400) }
        defer { close(fd) }
        let b = bytes
        let n = try sys { b.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        guard n == b.count else { throw Errno.EIO }
        _ = try sys { fsync(fd) }
    }
}
