import CPlatform
import Glibc

/// Reads and writes symlinks' stored targets in the backing directory, in the symlink itself or,
/// for a target too long for it, in its side file `tdefs.target.<hash>` at the volume's root
/// (docs/format.md, "Symlinks"). The engine, fsck, the census and re-encryption all go through it.
///
/// Crash safety: a side file is written and synced before the symlink that names it is made, and
/// removed only after the last link of that symlink is gone. A crash can leave a side file that no
/// symlink names (an orphan, which fsck removes), never a symlink without its side file.
enum SymlinkTargetStore {
    enum Stored: Equatable {
        /// The stored target, and the side file it came from, if any.
        case target([UInt8], sideFile: String?)
        /// The symlink names a side file that does not exist.
        case missingSideFile(String)
        /// The side file's content does not hash to its name.
        case damagedSideFile(String)
    }

    /// A stored target is at most this long (a 4095-byte target: 4131 bytes in base64url).
    static let maxStoredBytes = 5600

    /// The stored target of backing symlink `name` in `dirFD` ("" with an O_PATH descriptor of
    /// the symlink itself).
    static func read(dirFD: Int32, name: String, rootFD: Int32) throws(Errno) -> Stored {
        var buf = [UInt8](repeating: 0, count: SymlinkCodec.maxBackingTargetBytes + 1)
        let n = try sys { buf.withUnsafeMutableBytes { readlinkat(dirFD, name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) } }
        let text = buf[0..<n]
        guard SymlinkCodec.isSideFileName(text) else { return .target(Array(text), sideFile: nil) }
        let side = String(decoding: text, as: UTF8.self)
        return readSideFile(side, rootFD: rootFD)
    }

    /// The content of side file `side` at the root, checked against its name.
    static func readSideFile(_ side: String, rootFD: Int32) -> Stored {
        let fd: Int32
        do throws(Errno) {
            fd = try BackingFile.open(side, in: rootFD)
        } catch {
            return error == .EIO ? .damagedSideFile(side) : .missingSideFile(side)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size <= maxStoredBytes else { return .damagedSideFile(side) }
        var content = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < content.count {
            let r = content.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(got)) }
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { break }
            got += r
        }
        guard got == content.count, SymlinkCodec.sideFileMatches(name: side, content: content) else { return .damagedSideFile(side) }
        return .target(content, sideFile: side)
    }

    /// Makes backing symlink `name` in `dirFD` with stored target `stored`: in the symlink when it
    /// fits, otherwise through a side file written and synced first.
    static func create(stored: String, dirFD: Int32, name: String, rootFD: Int32) throws(Errno) {
        if SymlinkCodec.fitsInline(stored) {
            _ = try sys { symlinkat(stored, dirFD, name) }
            return
        }
        let bytes = Array(stored.utf8)
        let side = SymlinkCodec.sideFileName(forStored: bytes)
        try writeSideFile(side, content: bytes, rootFD: rootFD)
        do throws(Errno) {
            _ = try sys { symlinkat(side, dirFD, name) }
        } catch {
            unlinkat(rootFD, side, 0)
            throw error
        }
    }

    /// Writes side file `side` under its final name: no symlink names it before it is synced,
    /// so a crash midway leaves only an orphan.
    private static func writeSideFile(_ side: String, content: [UInt8], rootFD: Int32) throws(Errno) {
        let fd = try sys { openat(rootFD, side, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o400) }
        do throws(Errno) {
            var done = 0
            while done < content.count {
                let w = try sys { content.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) } }
                if w == 0 { throw Errno.EIO }
                done += w
            }
            _ = try sys { Glibc.fsync(fd) }
            close(fd)
            let dir = try sys { openat(rootFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            defer { close(dir) }
            _ = try sys { Glibc.fsync(dir) }
        } catch {
            close(fd)
            unlinkat(rootFD, side, 0)
            throw error
        }
    }

    /// Watches a backing symlink that refers to a side file while one of its links is removed
    /// (unlink, rename over it, re-encryption's replacement): once its last link is gone, the side
    /// file goes too. Holds an O_PATH descriptor of the symlink, so other links are counted
    /// exactly, whatever their names.
    struct LastLinkWatch: ~Copyable {
        private let fd: Int32
        private let side: String
        private let rootFD: Int32

        /// Nil when `name` in `dirFD` is not a symlink that refers to a side file (one readlinkat
        /// for other objects).
        init?(dirFD: Int32, name: String, rootFD: Int32) {
            guard let named = Self.sideFile(dirFD: dirFD, name: name) else { return nil }
            let fd = openat(dirFD, name, tdefs_O_PATH | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            // The object opened is the one probed (not a replacement made in between).
            guard Self.sideFile(dirFD: fd, name: "") == named else { close(fd); return nil }
            self.fd = fd
            self.side = named
            self.rootFD = rootFD
        }

        /// The side file a backing symlink refers to, or nil.
        private static func sideFile(dirFD: Int32, name: String) -> String? {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: SymlinkCodec.sideFileNameBytes + 1) { b -> String? in
                let n = readlinkat(dirFD, name, UnsafeMutableRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self), b.count)
                guard n > 0 else { return nil }
                let text = UnsafeBufferPointer(rebasing: b[0..<n])
                return SymlinkCodec.isSideFileName(text) ? String(decoding: text, as: UTF8.self) : nil
            }
        }

        /// After the removal: deletes the side file if the symlink has no link left.
        consuming func finish() {
            var st = stat()
            if fstatat(fd, "", &st, tdefs_AT_EMPTY_PATH) == 0, st.st_nlink == 0 { unlinkat(rootFD, side, 0) }
        }

        deinit { close(fd) }
    }
}
