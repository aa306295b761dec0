import XCTest
import Glibc
import CPlatform

/// Names and directories, with the outcomes and errno values ext4 gives.
final class PosixNamespaceTests: MountTestCase {
    func testLargeDirectory() throws {
        try check(mkdir("\(m)/big", 0o755), "mkdir")
        let count = 10_001
        for i in 0..<count {
            let fd = open("\(m)/big/entry-\(i)", O_WRONLY | O_CREAT | O_EXCL, 0o644)
            try check(fd, "create entry-\(i)")
            close(fd)
        }
        let raw = try listDirRaw("\(m)/big")
        XCTAssertEqual(raw.filter { $0 == "." }.count, 1)
        XCTAssertEqual(raw.filter { $0 == ".." }.count, 1)
        let names = raw.filter { $0 != "." && $0 != ".." }
        XCTAssertEqual(names.count, count, "every entry listed")
        XCTAssertEqual(Set(names).count, count, "no entry listed twice")
        XCTAssertEqual(Set(names), Set((0..<count).map { "entry-\($0)" }))
        let st = statOrNil("\(m)/big")
        XCTAssertEqual(st.map { $0.st_mode & S_IFMT }, S_IFDIR)
        XCTAssertEqual(st?.st_nlink, 2)
        XCTAssertEqual(statOrNil("\(m)/big/entry-5000")?.st_size, 0)
        XCTAssertEqual(errnoOf { unlink("\(m)/big/entry-77") }, 0)
        XCTAssertEqual(try listDir("\(m)/big").count, count - 1)
    }

    func testMkdirRmdir() throws {
        XCTAssertEqual(errnoOf { mkdir("\(m)/d", 0o755) }, 0)
        XCTAssertEqual(errnoOf { mkdir("\(m)/d", 0o755) }, EEXIST)
        XCTAssertEqual(errnoOf { mkdir("\(m)/missing/d", 0o755) }, ENOENT)
        XCTAssertEqual(statOrNil(m)?.st_nlink, 3, "root: ., .. and d/..")
        XCTAssertEqual(errnoOf { mkdir("\(m)/d/e", 0o700) }, 0)
        XCTAssertEqual(statOrNil("\(m)/d")?.st_nlink, 3)
        XCTAssertEqual(statOrNil("\(m)/d/e").map { $0.st_mode & 0o7777 }, 0o700 & ~currentUmask())
        try writeFile("\(m)/d/e/f", "x")
        XCTAssertEqual(errnoOf { rmdir("\(m)/d") }, ENOTEMPTY)
        XCTAssertEqual(errnoOf { rmdir("\(m)/d/e/f") }, ENOTDIR)
        XCTAssertEqual(errnoOf { unlink("\(m)/d/e") }, EISDIR)
        XCTAssertEqual(errnoOf { rmdir("\(m)/nope") }, ENOENT)
        XCTAssertEqual(errnoOf { mkdir("\(m)/d/e/f/g", 0o755) }, ENOTDIR)
        XCTAssertEqual(errnoOf { unlink("\(m)/d/e/f") }, 0)
        XCTAssertEqual(errnoOf { rmdir("\(m)/d/e") }, 0)
        XCTAssertEqual(errnoOf { rmdir("\(m)/d") }, 0)
        XCTAssertNil(lstatOrNil("\(m)/d"))
        XCTAssertEqual(statOrNil(m)?.st_nlink, 2)
    }

    func testExclusiveCreate() throws {
        try writeFile("\(m)/f", "x")
        XCTAssertEqual(errnoOf { open("\(m)/f", O_WRONLY | O_CREAT | O_EXCL, 0o644) }, EEXIST)
        try check(symlink("dangling-target", "\(m)/dangling"), "symlink")
        XCTAssertEqual(errnoOf { open("\(m)/dangling", O_WRONLY | O_CREAT | O_EXCL, 0o644) }, EEXIST)
        try check(mkdir("\(m)/dir", 0o755), "mkdir")
        XCTAssertEqual(errnoOf { open("\(m)/dir", O_WRONLY | O_CREAT | O_EXCL, 0o644) }, EEXIST)
        XCTAssertEqual(errnoOf { open("\(m)/dir", O_WRONLY) }, EISDIR)
        XCTAssertEqual(errnoOf { open("\(m)/f/x", O_RDONLY) }, ENOTDIR)
        XCTAssertEqual(errnoOf { open("\(m)/none", O_RDONLY) }, ENOENT)
        let fd = open("\(m)/new", O_WRONLY | O_CREAT | O_EXCL, 0o640)
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)
        XCTAssertEqual(statOrNil("\(m)/new").map { $0.st_mode & 0o7777 }, 0o640 & ~currentUmask())
    }

    func testRenames() throws {
        try writeFile("\(m)/a", "AAA")
        try writeFile("\(m)/b", "BBB")
        try check(mkdir("\(m)/d1", 0o755), "mkdir"); try check(mkdir("\(m)/d2", 0o755), "mkdir")
        // Replacing.
        XCTAssertEqual(errnoOf { rename("\(m)/a", "\(m)/b") }, 0)
        XCTAssertNil(lstatOrNil("\(m)/a"))
        XCTAssertEqual(try readFile("\(m)/b"), Array("AAA".utf8))
        // Across directories.
        XCTAssertEqual(errnoOf { rename("\(m)/b", "\(m)/d1/moved") }, 0)
        XCTAssertEqual(try readFile("\(m)/d1/moved"), Array("AAA".utf8))
        XCTAssertEqual(errnoOf { rename("\(m)/d1/moved", "\(m)/d2/moved-again") }, 0)
        XCTAssertEqual(try listDir("\(m)/d1"), [])
        XCTAssertEqual(try readFile("\(m)/d2/moved-again"), Array("AAA".utf8))
        // Directories, with their contents.
        try writeFile("\(m)/d1/inside", "in")
        XCTAssertEqual(errnoOf { rename("\(m)/d1", "\(m)/d2/d1") }, 0)
        XCTAssertEqual(try readFile("\(m)/d2/d1/inside"), Array("in".utf8))
        XCTAssertEqual(statOrNil(m)?.st_nlink, 3)
        XCTAssertEqual(statOrNil("\(m)/d2")?.st_nlink, 3)
        // Errors.
        try check(mkdir("\(m)/empty", 0o755), "mkdir")
        try writeFile("\(m)/file", "f")
        XCTAssertEqual(errnoOf { rename("\(m)/d2", "\(m)/d2/d1/x") }, EINVAL, "into its own subdirectory")
        XCTAssertEqual(errnoOf { rename("\(m)/file", "\(m)/empty") }, EISDIR)
        XCTAssertEqual(errnoOf { rename("\(m)/empty", "\(m)/file") }, ENOTDIR)
        XCTAssertEqual(errnoOf { rename("\(m)/empty", "\(m)/d2") }, ENOTEMPTY)
        XCTAssertEqual(errnoOf { rename("\(m)/none", "\(m)/x") }, ENOENT)
        XCTAssertEqual(errnoOf { rename("\(m)/file", "\(m)/file") }, 0, "same name: nothing happens")
        XCTAssertEqual(try readFile("\(m)/file"), Array("f".utf8))
        XCTAssertEqual(errnoOf { rename("\(m)/d2/d1", "\(m)/empty") }, 0, "directory over an empty directory")
        XCTAssertEqual(try readFile("\(m)/empty/inside"), Array("in".utf8))
    }

    func testRenameNoReplaceAndExchange() throws {
        try writeFile("\(m)/a", "AAA")
        try writeFile("\(m)/b", "BBB")
        try check(mkdir("\(m)/dir", 0o755), "mkdir")
        try writeFile("\(m)/dir/inner", "I")
        XCTAssertEqual(renameat2("\(m)/a", "\(m)/b", tdefs_RENAME_NOREPLACE), EEXIST)
        XCTAssertEqual(try readFile("\(m)/a"), Array("AAA".utf8))
        XCTAssertEqual(try readFile("\(m)/b"), Array("BBB".utf8))
        XCTAssertEqual(renameat2("\(m)/a", "\(m)/c", tdefs_RENAME_NOREPLACE), 0)
        XCTAssertNil(lstatOrNil("\(m)/a"))
        XCTAssertEqual(try readFile("\(m)/c"), Array("AAA".utf8))

        XCTAssertEqual(renameat2("\(m)/c", "\(m)/b", tdefs_RENAME_EXCHANGE), 0)
        XCTAssertEqual(try readFile("\(m)/c"), Array("BBB".utf8))
        XCTAssertEqual(try readFile("\(m)/b"), Array("AAA".utf8))
        // A file and a directory trade places.
        XCTAssertEqual(renameat2("\(m)/b", "\(m)/dir", tdefs_RENAME_EXCHANGE), 0)
        XCTAssertEqual(try readFile("\(m)/dir"), Array("AAA".utf8))
        XCTAssertEqual(try readFile("\(m)/b/inner"), Array("I".utf8))
        XCTAssertEqual(renameat2("\(m)/b", "\(m)/missing", tdefs_RENAME_EXCHANGE), ENOENT)
        XCTAssertEqual(renameat2("\(m)/b", "\(m)/c", tdefs_RENAME_EXCHANGE | tdefs_RENAME_NOREPLACE), EINVAL)
        // Survives a fresh lookup (the kernel's caches dropped).
        vol.unmount()
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/dir"), Array("AAA".utf8))
        XCTAssertEqual(try readFile("\(m)/b/inner"), Array("I".utf8))
        XCTAssertEqual(try readFile("\(m)/c"), Array("BBB".utf8))
    }

    func testHardLinks() throws {
        try writeFile("\(m)/orig", "original")
        try check(mkdir("\(m)/d", 0o755), "mkdir")
        XCTAssertEqual(errnoOf { link("\(m)/orig", "\(m)/d/other") }, 0)
        let a = statOrNil("\(m)/orig"), b = statOrNil("\(m)/d/other")
        XCTAssertEqual(a?.st_ino, b?.st_ino, "same inode")
        XCTAssertEqual(a?.st_nlink, 2)
        XCTAssertEqual(b?.st_nlink, 2)
        try writeFile("\(m)/d/other", "changed through the link")
        XCTAssertEqual(try readFile("\(m)/orig"), Array("changed through the link".utf8))
        XCTAssertEqual(errnoOf { link("\(m)/orig", "\(m)/d/other") }, EEXIST)
        XCTAssertEqual(errnoOf { link("\(m)/d", "\(m)/dlink") }, EPERM, "no hard links to directories")
        XCTAssertEqual(errnoOf { link("\(m)/none", "\(m)/x") }, ENOENT)
        XCTAssertEqual(errnoOf { unlink("\(m)/orig") }, 0)
        XCTAssertEqual(statOrNil("\(m)/d/other")?.st_nlink, 1)
        XCTAssertEqual(try readFile("\(m)/d/other"), Array("changed through the link".utf8))
        // Renaming one link keeps the other.
        XCTAssertEqual(errnoOf { link("\(m)/d/other", "\(m)/third") }, 0)
        XCTAssertEqual(errnoOf { rename("\(m)/third", "\(m)/d/fourth") }, 0)
        XCTAssertEqual(statOrNil("\(m)/d/fourth")?.st_nlink, 2)
        XCTAssertEqual(statOrNil("\(m)/d/fourth")?.st_ino, statOrNil("\(m)/d/other")?.st_ino)
    }

    func testSymlinks() throws {
        try writeFile("\(m)/target", "T")
        XCTAssertEqual(errnoOf { symlink("target", "\(m)/link") }, 0)
        XCTAssertEqual(readLink("\(m)/link"), "target")
        let st = lstatOrNil("\(m)/link")
        XCTAssertEqual(st.map { $0.st_mode & S_IFMT }, S_IFLNK)
        XCTAssertEqual(st?.st_size, 6, "a symlink's size is its target's length")
        XCTAssertEqual(try readFile("\(m)/link"), Array("T".utf8))
        XCTAssertEqual(errnoOf { symlink("x", "\(m)/link") }, EEXIST)
        XCTAssertNil(readLink("\(m)/target"))
        XCTAssertEqual(errno, EINVAL, "readlink of a regular file")

        let ok = String(repeating: "t", count: 4095)
        XCTAssertEqual(errnoOf { symlink(ok, "\(m)/long-ok") }, 0, "4095-byte targets are allowed, as on ext4")
        XCTAssertEqual(readLink("\(m)/long-ok"), ok)
        XCTAssertEqual(lstatOrNil("\(m)/long-ok")?.st_size, 4095)
        XCTAssertEqual(errnoOf { symlink(String(repeating: "t", count: 4096), "\(m)/long-bad") }, ENAMETOOLONG)
        XCTAssertNil(lstatOrNil("\(m)/long-bad"))
        let utf8 = String(repeating: "é/", count: 100)
        XCTAssertEqual(errnoOf { symlink(utf8, "\(m)/utf8") }, 0)
        XCTAssertEqual(readLink("\(m)/utf8"), utf8)
        XCTAssertEqual(errnoOf { symlink("/abs/path", "\(m)/abs") }, 0)
        XCTAssertEqual(readLink("\(m)/abs"), "/abs/path")
    }

    func testNameLengths() throws {
        let n255 = String(repeating: "n", count: 255)
        try writeFile("\(m)/\(n255)", "max")
        XCTAssertEqual(try readFile("\(m)/\(n255)"), Array("max".utf8))
        XCTAssertTrue(try listDir(m).contains(n255))
        XCTAssertEqual(errnoOf { open("\(m)/\(String(repeating: "n", count: 256))", O_WRONLY | O_CREAT, 0o644) }, ENAMETOOLONG)
        XCTAssertEqual(errnoOf { mkdir("\(m)/\(String(repeating: "d", count: 256))", 0o755) }, ENAMETOOLONG)
        XCTAssertEqual(errnoOf { mkdir("\(m)/\(String(repeating: "d", count: 255))", 0o755) }, 0)
        try writeFile("\(m)/\(String(repeating: "d", count: 255))/\(n255)", "deep")
        XCTAssertEqual(errnoOf { rename("\(m)/\(n255)", "\(m)/\(String(repeating: "r", count: 256))") }, ENAMETOOLONG)
        XCTAssertEqual(errnoOf { rename("\(m)/\(n255)", "\(m)/\(String(repeating: "r", count: 255))") }, 0)
        XCTAssertEqual(errnoOf { symlink("t", "\(m)/\(String(repeating: "s", count: 255))") }, 0)
        // Multi-byte names: 255 bytes is the limit, not 255 characters.
        let e2 = String(repeating: "é", count: 127) + "x"  // 255 bytes
        XCTAssertEqual(e2.utf8.count, 255)
        try writeFile("\(m)/\(e2)", "utf8")
        XCTAssertTrue(try listDir(m).contains(e2))
        XCTAssertEqual(errnoOf { open("\(m)/\(String(repeating: "é", count: 128))", O_WRONLY | O_CREAT, 0o644) }, ENAMETOOLONG)
        // Every length from 1 to 255 round-trips through readdir (padding and long-name boundaries).
        try check(mkdir("\(m)/lengths", 0o755), "mkdir")
        for len in 1...255 {
            try writeFile("\(m)/lengths/\(String(repeating: "a", count: len))", "\(len)")
        }
        XCTAssertEqual(Set(try listDir("\(m)/lengths")), Set((1...255).map { String(repeating: "a", count: $0) }))
        XCTAssertEqual(try readFile("\(m)/lengths/\(String(repeating: "a", count: 160))"), Array("160".utf8))
    }
}

func currentUmask() -> mode_t {
    let u = umask(0o022)
    umask(u)
    return u
}
