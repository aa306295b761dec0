import Glibc

/// An open eCryptfs file: plaintext reads at any offset. Thread-safe (pread on one descriptor,
/// no shared mutable state); the descriptor is closed on deinit.
public final class ECryptfsFile: @unchecked Sendable {
    public let path: String
    /// Plaintext size from the header.
    public let size: Int64
    public let header: ECryptfsFileHeader
    public let metadataInXattr: Bool
    private let fd: Int32
    private let dataOffset: Int64
    private let cipher: ECryptfsExtentCipher

    init(fd: Int32, path: String, size: Int64, dataOffset: Int64, cipher: ECryptfsExtentCipher,
         header: ECryptfsFileHeader, metadataInXattr: Bool) {
        self.fd = fd; self.path = path; self.size = size; self.dataOffset = dataOffset
        self.cipher = cipher; self.header = header; self.metadataInXattr = metadataInXattr
    }

    deinit { close(fd) }

    /// The AES key length of the file's FEK (16, 24 or 32).
    public var keyBytes: Int { cipher.keyBytes }

    /// Reads up to `buffer.count` plaintext bytes at `offset`; returns the count (0 at or past
    /// the end). Extents missing from the lower file (it is shorter than the header's size says)
    /// read as zeros; present extents are decrypted as the kernel does, whatever they hold.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(ECryptfsError) -> Int {
        guard offset >= 0 else { throw .io(path: path, errno: EINVAL) }
        guard offset < size, buffer.count > 0 else { return 0 }
        let want = Int(min(Int64(buffer.count), size - offset))
        let es = Int64(ECryptfsExtentCipher.extentSize)
        var enc = [UInt8](repeating: 0, count: Int(es))
        let plain = SecureBytes(count: Int(es))
        var done = 0
        while done < want {
            let pos = offset + Int64(done)
            let n = pos / es
            let within = Int(pos % es)
            let take = min(Int(es) - within, want - done)
            var got = 0
            let err: Int32 = enc.withUnsafeMutableBytes { e in
                while got < e.count {
                    let r = pread(fd, e.baseAddress! + got, e.count - got, off_t(dataOffset + n * es + Int64(got)))
                    if r < 0 { if errno == EINTR { continue }; return errno }
                    if r == 0 { break }
                    got += r
                }
                return 0
            }
            if err != 0 { throw .io(path: path, errno: err) }
            if got == 0 {
                UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + take)]).initializeMemory(as: UInt8.self, repeating: 0)
            } else {
                if got < enc.count { for i in got..<enc.count { enc[i] = 0 } }
                let ok = enc.withUnsafeBytes { e in plain.withUnsafeMutableBytes { cipher.decrypt(extent: n, input: e, output: $0) } }
                guard ok else { throw .malformed(path: path, what: "extent \(n) could not be decrypted") }
                plain.withUnsafeBytes { p in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + take)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: p[within..<(within + take)]))
                }
            }
            done += take
        }
        return done
    }

    /// The whole plaintext (for tests and small files).
    public func readAll() throws(ECryptfsError) -> [UInt8] {
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: max(Int(size), 1), alignment: 16)
        defer { b.deallocate() }
        let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<Int(size)]), at: 0)
        return Array(b[0..<n])
    }
}
