import XCTest
import Glibc
import CPlatform

/// File contents and attributes, with the outcomes ext4 gives.
final class PosixFileTests: MountTestCase {
    func testTruncateUpAndDown() throws {
        var rng = SeededRNG(seed: 1)
        let data = rng.bytes(10_000)
        try writeFile("\(m)/t", data)
        XCTAssertEqual(errnoOf { truncate("\(m)/t", 20_000) }, 0)
        var got = try readFile("\(m)/t")
        XCTAssertEqual(got.count, 20_000)
        XCTAssertEqual(Array(got.prefix(10_000)), data)
        XCTAssertTrue(got.suffix(10_000).allSatisfy { $0 == 0 }, "the hole reads as zeros")
        XCTAssertEqual(errnoOf { truncate("\(m)/t", 5_000) }, 0)
        XCTAssertEqual(try readFile("\(m)/t"), Array(data.prefix(5_000)))
        XCTAssertEqual(errnoOf { truncate("\(m)/t", 9_000) }, 0)
        got = try readFile("\(m)/t")
        XCTAssertEqual(Array(got.prefix(5_000)), Array(data.prefix(5_000)))
        XCTAssertTrue(got.suffix(4_000).allSatisfy { $0 == 0 }, "truncated data must not come back")
        let fd = open("\(m)/t", O_RDWR)
        try check(fd, "open")
        XCTAssertEqual(errnoOf { ftruncate(fd, 4096) }, 0)
        XCTAssertEqual(statOrNil("\(m)/t")?.st_size, 4096)
        XCTAssertEqual(errnoOf { ftruncate(fd, 0) }, 0)
        XCTAssertEqual(try readAll(fd), [])
        XCTAssertEqual(errnoOf { ftruncate(fd, -1) }, EINVAL)
        close(fd)
        let ro = open("\(m)/t", O_RDONLY)
        XCTAssertEqual(errnoOf { ftruncate(ro, 10) }, EINVAL, "not open for writing")
        close(ro)
        XCTAssertEqual(errnoOf { truncate("\(m)/none", 10) }, ENOENT)

        // Writing far past the end leaves a hole.
        let h = open("\(m)/holes", O_RDWR | O_CREAT, 0o644)
        try writeAll(h, Array("tail".utf8), at: 1_000_000)
        XCTAssertEqual(statOrNil("\(m)/holes")?.st_size, 1_000_004)
        let r = preadBytes(h, count: 8192, at: 500_000)
        XCTAssertEqual(r.bytes, [UInt8](repeating: 0, count: 8192))
        close(h)
    }

    func testUnlinkedOpenFileStillReadable() throws {
        let data = Array(String(repeating: "still here ", count: 900).utf8)
        try writeFile("\(m)/gone", data)
        let fd = open("\(m)/gone", O_RDWR)
        try check(fd, "open")
        defer { close(fd) }
        XCTAssertEqual(errnoOf { unlink("\(m)/gone") }, 0)
        XCTAssertNil(lstatOrNil("\(m)/gone"))
        XCTAssertFalse(try listDir(m).contains("gone"))
        XCTAssertEqual(try readAll(fd), data)
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        XCTAssertEqual(st.st_nlink, 0)
        try writeAll(fd, Array("more".utf8), at: Int64(data.count))
        XCTAssertEqual(try readAll(fd), data + Array("more".utf8))
        // Times of an unlinked file that is still open are kept (set by path: no file handle).
        let times = [timespec(tv_sec: 1_234_567_890, tv_nsec: 0), timespec(tv_sec: 1_234_567_891, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, "/proc/self/fd/\(fd)", times, 0), 0)
        XCTAssertEqual(fstat(fd, &st), 0)
        XCTAssertEqual(st.st_mtim.tv_sec, 1_234_567_891)
        // A new file of the same name is a different file.
        try writeFile("\(m)/gone", "new")
        XCTAssertEqual(try readFile("\(m)/gone"), Array("new".utf8))
        XCTAssertEqual(Array(try readAll(fd).prefix(5)), Array(data.prefix(5)))
    }

    func testChmodChownUtimens() throws {
        try writeFile("\(m)/f", "x")
        try check(mkdir("\(m)/d", 0o755), "mkdir")
        for mode: mode_t in [0o000, 0o640, 0o755, 0o4755, 0o2750, 0o1777] {
            XCTAssertEqual(errnoOf { chmod("\(m)/f", mode) }, 0)
            XCTAssertEqual(statOrNil("\(m)/f").map { $0.st_mode & 0o7777 }, mode)
        }
        XCTAssertEqual(errnoOf { chmod("\(m)/d", 0o1777) }, 0)
        XCTAssertEqual(statOrNil("\(m)/d").map { $0.st_mode }, S_IFDIR | 0o1777)
        XCTAssertEqual(errnoOf { chown("\(m)/f", 4321, 8765) }, 0)
        XCTAssertEqual(statOrNil("\(m)/f")?.st_uid, 4321)
        XCTAssertEqual(statOrNil("\(m)/f")?.st_gid, 8765)
        XCTAssertEqual(errnoOf { chown("\(m)/f", UInt32.max, 42) }, 0, "-1 keeps the owner")
        XCTAssertEqual(statOrNil("\(m)/f")?.st_uid, 4321)
        XCTAssertEqual(statOrNil("\(m)/f")?.st_gid, 42)
        try check(symlink("f", "\(m)/l"), "symlink")
        XCTAssertEqual(errnoOf { lchown("\(m)/l", 1111, 2222) }, 0)
        XCTAssertEqual(lstatOrNil("\(m)/l")?.st_uid, 1111)
        XCTAssertEqual(statOrNil("\(m)/l")?.st_uid, 4321, "lchown does not follow")

        var t = [timespec(tv_sec: 1_234_567_890, tv_nsec: 111_222_333), timespec(tv_sec: 1_700_000_000, tv_nsec: 999_999_999)]
        XCTAssertEqual(errnoOf { utimensat(AT_FDCWD, "\(m)/f", &t, 0) }, 0)
        var st = statOrNil("\(m)/f")!
        XCTAssertEqual(st.st_atim.tv_sec, 1_234_567_890); XCTAssertEqual(st.st_atim.tv_nsec, 111_222_333)
        XCTAssertEqual(st.st_mtim.tv_sec, 1_700_000_000); XCTAssertEqual(st.st_mtim.tv_nsec, 999_999_999)
        // UTIME_OMIT leaves one alone.
        var t2 = [timespec(tv_sec: 5, tv_nsec: Int(tdefs_UTIME_OMIT)), timespec(tv_sec: 1_000_000_001, tv_nsec: 1)]
        XCTAssertEqual(errnoOf { utimensat(AT_FDCWD, "\(m)/f", &t2, 0) }, 0)
        st = statOrNil("\(m)/f")!
        XCTAssertEqual(st.st_atim.tv_sec, 1_234_567_890); XCTAssertEqual(st.st_atim.tv_nsec, 111_222_333)
        XCTAssertEqual(st.st_mtim.tv_sec, 1_000_000_001); XCTAssertEqual(st.st_mtim.tv_nsec, 1)
        XCTAssertEqual(errnoOf { utimensat(AT_FDCWD, "\(m)/d", &t, 0) }, 0)
        XCTAssertEqual(statOrNil("\(m)/d")?.st_mtim.tv_nsec, 999_999_999)
        XCTAssertEqual(errnoOf { utimensat(AT_FDCWD, "\(m)/l", &t, AT_SYMLINK_NOFOLLOW) }, 0)
        XCTAssertEqual(lstatOrNil("\(m)/l")?.st_mtim.tv_sec, 1_700_000_000)
        // Writing updates mtime to now.
        let before = time(nil)
        try writeFile("\(m)/f", "y")
        XCTAssertGreaterThanOrEqual(statOrNil("\(m)/f")!.st_mtim.tv_sec, before - 1)
    }

    func testStatfs() throws {
        var a = statvfs(), b = statvfs()
        XCTAssertEqual(statvfs(m, &a), 0)
        XCTAssertEqual(statvfs(vol.backing, &b), 0)
        XCTAssertGreaterThan(a.f_bsize, 0)
        XCTAssertGreaterThan(a.f_blocks, 0)
        XCTAssertLessThanOrEqual(a.f_bfree, a.f_blocks)
        XCTAssertLessThanOrEqual(a.f_bavail, a.f_bfree)
        XCTAssertEqual(a.f_namemax, 255)
        let total = Double(a.f_blocks) * Double(a.f_frsize), backingTotal = Double(b.f_blocks) * Double(b.f_frsize)
        XCTAssertEqual(total, backingTotal, accuracy: backingTotal * 0.01, "the size is the backing filesystem's")
    }

    func testFallocate() throws {
        let fd = open("\(m)/fa", O_RDWR | O_CREAT, 0o644)
        try check(fd, "open")
        defer { close(fd) }
        XCTAssertEqual(posix_fallocate(fd, 0, 10_000), 0)
        XCTAssertEqual(statOrNil("\(m)/fa")?.st_size, 10_000)
        XCTAssertEqual(try readAll(fd), [UInt8](repeating: 0, count: 10_000))
        try writeAll(fd, Array("abc".utf8), at: 5_000)
        XCTAssertEqual(posix_fallocate(fd, 0, 8_192), 0, "inside the file: no change")
        XCTAssertEqual(preadBytes(fd, count: 3, at: 5_000).bytes, Array("abc".utf8))
        XCTAssertEqual(statOrNil("\(m)/fa")?.st_size, 10_000)
        XCTAssertEqual(errnoOf { tdefs_fallocate(fd, tdefs_FALLOC_FL_KEEP_SIZE, 0, 50_000) }, 0)
        XCTAssertEqual(statOrNil("\(m)/fa")?.st_size, 10_000, "KEEP_SIZE keeps the size")
        XCTAssertEqual(posix_fallocate(fd, 12_000, 3_000), 0)
        XCTAssertEqual(statOrNil("\(m)/fa")?.st_size, 15_000)
        XCTAssertEqual(preadBytes(fd, count: 5_000, at: 10_000).bytes, [UInt8](repeating: 0, count: 5_000))
    }

    func testSyncCalls() throws {
        let fd = open("\(m)/s", O_RDWR | O_CREAT, 0o644)
        try check(fd, "open")
        try writeAll(fd, Array("sync me".utf8), at: 0)
        XCTAssertEqual(errnoOf { fsync(fd) }, 0)
        XCTAssertEqual(errnoOf { fdatasync(fd) }, 0)
        close(fd)
        try check(mkdir("\(m)/dir", 0o755), "mkdir")
        for path in [m, "\(m)/dir"] {
            let dfd = open(path, O_RDONLY | O_DIRECTORY)
            try check(dfd, "open dir")
            XCTAssertEqual(errnoOf { fsync(dfd) }, 0, "fsync on a directory fd")
            XCTAssertEqual(errnoOf { fdatasync(dfd) }, 0)
            close(dfd)
        }
        let rootFD = open(m, O_RDONLY | O_DIRECTORY)
        XCTAssertEqual(errnoOf { tdefs_syncfs(rootFD) }, 0)
        close(rootFD)
    }

    /// Under the writeback cache the kernel keeps a file's mtime and sends it before each fsync;
    /// the daemon stores it on the backing file at a full fsync and at close (an fdatasync leaves
    /// it for later), so the mtime seen through the mount is the one that stays.
    func testMtimeOfCachedWritesReachesTheBackingFile() throws {
        let fd = open("\(m)/t", O_RDWR | O_CREAT, 0o644)
        try check(fd, "open")
        func backingMtime() -> timespec? {
            guard let dir = opendir(vol.backing) else { return nil }
            defer { closedir(dir) }
            while let e = readdir(dir) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if !name.contains(".") { return statOrNil("\(vol.backing)/\(name)")?.st_mtim }
            }
            return nil
        }
        func same(_ a: timespec?, _ b: timespec) -> Bool { a?.tv_sec == b.tv_sec && a?.tv_nsec == b.tv_nsec }
        var st = stat()
        try writeAll(fd, Array(repeating: 1, count: 10_000), at: 0)
        XCTAssertEqual(errnoOf { fsync(fd) }, 0)
        XCTAssertEqual(fstat(fd, &st), 0)
        XCTAssertTrue(same(backingMtime(), st.st_mtim), "after fsync: \(String(describing: backingMtime())) vs \(st.st_mtim)")
        usleep(20_000)  // the kernel stamps writes with a coarse clock
        try writeAll(fd, [2], at: 20_000)
        usleep(20_000)  // so the backing file's own stamp, at write-back, differs from the kernel's
        XCTAssertEqual(errnoOf { fdatasync(fd) }, 0)
        XCTAssertEqual(fstat(fd, &st), 0)
        close(fd)
        // The kernel sends the release after close() has returned.
        for _ in 0..<250 where !same(backingMtime(), st.st_mtim) { usleep(20_000) }
        XCTAssertTrue(same(backingMtime(), st.st_mtim), "after close: \(String(describing: backingMtime())) vs \(st.st_mtim)")
        vol.unmount()
        try vol.mount()
        XCTAssertTrue(same(statOrNil("\(m)/t")?.st_mtim, st.st_mtim), "after a remount")
        XCTAssertEqual(statOrNil("\(m)/t")?.st_size, 20_001)
    }

    func testSharedWritableMmap() throws {
        let fd = open("\(m)/map", O_RDWR | O_CREAT, 0o644)
        try check(fd, "open")
        let size = 3 * 4096 + 100
        XCTAssertEqual(ftruncate(fd, off_t(size)), 0)
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            return XCTFail("mmap MAP_SHARED failed: \(errName(errno))")
        }
        var rng = SeededRNG(seed: 3)
        let pattern = rng.bytes(size)
        pattern.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: size) }
        XCTAssertEqual(msync(base, size, MS_SYNC), 0)
        XCTAssertEqual(munmap(base, size), 0)
        XCTAssertEqual(try readAll(fd), pattern, "read() sees what the mapping wrote")
        let other = open("\(m)/map", O_RDONLY)
        XCTAssertEqual(try readAll(other), pattern)
        close(other)
        // And the data reached the daemon (and the backing store): it survives a remount.
        close(fd)
        vol.unmount()
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/map"), pattern)
    }
}

/// The daemon raises the mount's readahead window to its largest request (1 MiB) once the mount
/// is live; a file larger than several windows reads back whole, sequentially and from the end.
final class ReadaheadWindowTests: MountTestCase {
    override var needsRoot: Bool { true }  // writing to sysfs

    func testWindowIsRaisedAndLargeReadsStayExact() throws {
        var path = [UInt8](repeating: 0, count: 128)
        try check(path.withUnsafeMutableBufferPointer {
            tdefs_fuse_readahead_path(m, UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)
        }, "the readahead file of a FUSE mount")
        let sysfs = String(decoding: path.prefix { $0 != 0 }, as: UTF8.self)
        XCTAssertEqual(String(decoding: try readFile(sysfs), as: UTF8.self), "1024\n")

        var content = [UInt8](repeating: 0, count: 5 << 20 + 1234)
        for i in content.indices { content[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
        try writeFile("\(m)/big", content)
        vol.unmount()
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/big"), content)
        let fd = open("\(m)/big", O_RDONLY)
        try check(fd, "open")
        defer { close(fd) }
        var tail = [UInt8](repeating: 0, count: 70_000)
        XCTAssertEqual(tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(content.count - 70_000)) }, 70_000)
        XCTAssertEqual(tail, Array(content.suffix(70_000)))
    }
}
