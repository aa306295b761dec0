import XCTest
import Glibc
import CPlatform

/// user.* extended attributes, flock and POSIX record locks.
final class PosixXattrLockTests: MountTestCase {
    // These tests use user.* extended attributes on the mount.
    override var initOptions: [String] { Self.generalProfile }

    func testUserXattrs() throws {
        try writeFile("\(m)/f", "x")
        try check(mkdir("\(m)/d", 0o755), "mkdir")
        for path in ["\(m)/f", "\(m)/d"] {
            XCTAssertEqual(getXattr(path, "user.a").errno, ENODATA)
            XCTAssertEqual(setXattr(path, "user.a", Array("one".utf8)), 0)
            XCTAssertEqual(getXattr(path, "user.a").value, Array("one".utf8))
            XCTAssertEqual(lgetxattr(path, "user.a", nil, 0), 3, "size query")
            var small = [UInt8](repeating: 0, count: 2)
            XCTAssertEqual(errnoOfSize { lgetxattr(path, "user.a", &small, 2) }, ERANGE)
            XCTAssertEqual(setXattr(path, "user.a", Array("two".utf8), flags: XATTR_CREATE), EEXIST)
            XCTAssertEqual(setXattr(path, "user.b", Array("x".utf8), flags: XATTR_REPLACE), ENODATA)
            XCTAssertEqual(setXattr(path, "user.a", Array("replaced".utf8), flags: XATTR_REPLACE), 0)
            XCTAssertEqual(getXattr(path, "user.a").value, Array("replaced".utf8))
            XCTAssertEqual(setXattr(path, "user.empty", []), 0)
            XCTAssertEqual(getXattr(path, "user.empty").errno, 0)
            XCTAssertEqual(getXattr(path, "user.empty").value, [])
            let big = [UInt8](repeating: 0x5a, count: 3000)
            XCTAssertEqual(setXattr(path, "user.big", big), 0)
            XCTAssertEqual(getXattr(path, "user.big").value, big)
            let names = Set(listXattrs(path).map { String(decoding: $0, as: UTF8.self) })
            XCTAssertEqual(Set(names.filter { $0.hasPrefix("user.") }), Set(["user.a", "user.empty", "user.big"]))
            XCTAssertEqual(errnoOf { lremovexattr(path, "user.a") }, 0)
            XCTAssertEqual(getXattr(path, "user.a").errno, ENODATA)
            XCTAssertEqual(errnoOf { lremovexattr(path, "user.a") }, ENODATA)
            XCTAssertFalse(listXattrs(path).contains(Array("user.a".utf8)))
        }
        // Attributes follow the file through a rename.
        XCTAssertEqual(rename("\(m)/f", "\(m)/d/g"), 0)
        XCTAssertEqual(getXattr("\(m)/d/g", "user.big").value.count, 3000)
    }

    func testFlockBetweenTwoOpenFiles() throws {
        try writeFile("\(m)/lock", "")
        let a = open("\(m)/lock", O_RDWR), b = open("\(m)/lock", O_RDWR)
        defer { close(a); close(b) }
        XCTAssertEqual(errnoOf { flock(a, LOCK_EX) }, 0)
        XCTAssertEqual(errnoOf { flock(b, LOCK_EX | LOCK_NB) }, EWOULDBLOCK)
        XCTAssertEqual(errnoOf { flock(b, LOCK_SH | LOCK_NB) }, EWOULDBLOCK)
        XCTAssertEqual(errnoOf { flock(a, LOCK_UN) }, 0)
        XCTAssertEqual(errnoOf { flock(b, LOCK_SH | LOCK_NB) }, 0)
        XCTAssertEqual(errnoOf { flock(a, LOCK_SH | LOCK_NB) }, 0, "shared locks coexist")
        XCTAssertEqual(errnoOf { flock(a, LOCK_EX | LOCK_NB) }, EWOULDBLOCK)
    }

    /// POSIX record locks between this process and a child (they are per process).
    func testFcntlLocksBetweenProcesses() throws {
        try writeFile("\(m)/rec", String(repeating: "r", count: 100))
        let fd = open("\(m)/rec", O_RDWR)
        try check(fd, "open")
        defer { close(fd) }
        var lk = flock()
        lk.l_type = Int16(F_WRLCK); lk.l_whence = Int16(SEEK_SET); lk.l_start = 10; lk.l_len = 20
        XCTAssertEqual(errnoOf { fcntl(fd, F_SETLK, &lk) }, 0)

        // The child tries: F_GETLK on the locked range, F_SETLK on it (must fail), F_SETLK on a free range.
        let results = try inChild(path: "\(m)/rec") { cfd in
            var probe = flock()
            probe.l_type = Int16(F_WRLCK); probe.l_whence = Int16(SEEK_SET); probe.l_start = 15; probe.l_len = 1
            let g = fcntl(cfd, F_GETLK, &probe)
            var conflicting = flock()
            conflicting.l_type = Int16(F_WRLCK); conflicting.l_whence = Int16(SEEK_SET); conflicting.l_start = 25; conflicting.l_len = 10
            let s1 = fcntl(cfd, F_SETLK, &conflicting) == 0 ? 0 : errno
            var free = flock()
            free.l_type = Int16(F_WRLCK); free.l_whence = Int16(SEEK_SET); free.l_start = 50; free.l_len = 10
            let s2 = fcntl(cfd, F_SETLK, &free) == 0 ? 0 : errno
            return [g == 0 ? Int32(probe.l_type) : -1, probe.l_pid, s1, s2]
        }
        XCTAssertEqual(results[0], Int32(F_WRLCK), "F_GETLK reports the parent's write lock")
        XCTAssertEqual(results[1], getpid(), "F_GETLK names the holder")
        XCTAssertTrue(results[2] == EAGAIN || results[2] == EACCES, "conflicting F_SETLK fails: \(errName(results[2]))")
        XCTAssertEqual(results[3], 0, "a free range locks")

        lk.l_type = Int16(F_UNLCK)
        XCTAssertEqual(errnoOf { fcntl(fd, F_SETLK, &lk) }, 0)
        let after = try inChild(path: "\(m)/rec") { cfd in
            var l = flock()
            l.l_type = Int16(F_WRLCK); l.l_whence = Int16(SEEK_SET); l.l_start = 0; l.l_len = 0
            return [fcntl(cfd, F_SETLK, &l) == 0 ? 0 : errno]
        }
        XCTAssertEqual(after[0], 0, "after unlocking, the child may lock the whole file")
    }

    /// Forks; the child opens `path`, runs `body` (plain syscalls only) and sends back its results.
    func inChild(path: String, _ body: (Int32) -> [Int32]) throws -> [Int32] {
        var pipeFDs: [Int32] = [0, 0]
        try check(pipe(&pipeFDs), "pipe")
        let cpath = strdup(path)!
        defer { free(cpath) }
        let pid = fork()
        if pid == 0 {
            close(pipeFDs[0])
            let cfd = open(cpath, O_RDWR)
            var out = cfd < 0 ? [Int32](repeating: -2, count: 4) : body(cfd)
            _ = write(pipeFDs[1], &out, out.count * 4)
            _exit(0)
        }
        close(pipeFDs[1])
        defer { close(pipeFDs[0]) }
        try check(pid, "fork")
        var buf = [Int32](repeating: -3, count: 4)
        let n = read(pipeFDs[0], &buf, 16)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard n > 0 else { throw HarnessError("child sent nothing") }
        return Array(buf.prefix(n / 4))
    }
}

/// `-o noxattr`: the mount serves no extended attributes (the kernel is told once and stops
/// asking), everything else works, and attributes stored before stay in the backing untouched.
final class NoXattrMountTests: MountTestCase {
    // These tests use user.* extended attributes on the mount.
    override var initOptions: [String] { Self.generalProfile }

    func testNoxattrRefusesAttributesAndKeepsStoredOnes() throws {
        try writeFile("\(m)/f", "data")
        XCTAssertEqual(setXattr("\(m)/f", "user.kept", Array("value".utf8)), 0)
        vol.unmount()
        try vol.mount(options: ["noxattr"])

        XCTAssertEqual(getXattr("\(m)/f", "user.kept").errno, EOPNOTSUPP)
        XCTAssertEqual(setXattr("\(m)/f", "user.new", Array("x".utf8)), EOPNOTSUPP)
        XCTAssertEqual(errnoOfSize { llistxattr("\(m)/f", nil, 0) }, EOPNOTSUPP)
        // Writes (the kernel asked for security.capability before each one) and reads work.
        let fd = open("\(m)/f", O_WRONLY | O_APPEND)
        try check(fd, "open")
        try writeAll(fd, Array(" more".utf8), at: 4)
        close(fd)
        XCTAssertEqual(try readFile("\(m)/f"), Array("data more".utf8))

        vol.unmount()
        try vol.mount()
        XCTAssertEqual(getXattr("\(m)/f", "user.kept").value, Array("value".utf8), "stored attributes survive a noxattr mount")
        XCTAssertEqual(try readFile("\(m)/f"), Array("data more".utf8))
    }
}
