import XCTest
import Glibc

/// Data, names, directories, symlinks, hard links, xattrs, modes and times survive unmount + mount.
final class RemountTests: MountTestCase {
    // These tests use user.* extended attributes on the mount.
    override var initOptions: [String] { Self.generalProfile }

    func testEverythingSurvivesRemount() throws {
        var rng = SeededRNG(seed: 42)
        let big = rng.bytes(3 * 4096 + 1234)
        try writeFile("\(m)/big.bin", big)
        try writeFile("\(m)/empty", [UInt8]())
        try check(mkdir("\(m)/dir", 0o750), "mkdir")
        try check(mkdir("\(m)/dir/sub", 0o700), "mkdir")
        try writeFile("\(m)/dir/sub/nested.txt", "nested")
        try writeFile("\(m)/dir/ünïcødé name with spaces", "unicode")
        let long = String(repeating: "L", count: 255)
        try writeFile("\(m)/dir/\(long)", "long name")
        try check(symlink("dir/sub/nested.txt", "\(m)/link"), "symlink")
        try check(symlink("/absolute/target/elsewhere", "\(m)/dir/abs-link"), "symlink")
        try check(link("\(m)/big.bin", "\(m)/dir/hardlink.bin"), "link")
        // Sparse file.
        let fd = open("\(m)/sparse", O_RDWR | O_CREAT, 0o644)
        try check(fd, "open sparse")
        try writeAll(fd, Array("end".utf8), at: 1_000_000)
        close(fd)
        XCTAssertEqual(setXattr("\(m)/big.bin", "user.color", Array("blue".utf8)), 0)
        XCTAssertEqual(setXattr("\(m)/dir", "user.dirattr", Array("on a directory".utf8)), 0)
        XCTAssertEqual(setXattr("\(m)/empty", "user.empty-value", []), 0)
        XCTAssertEqual(chmod("\(m)/big.bin", 0o640), 0)
        XCTAssertEqual(chmod("\(m)/empty", 0o400), 0)
        XCTAssertEqual(chown("\(m)/dir/sub/nested.txt", 1234, 5678), 0)
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 1_600_000_000, tv_nsec: 987_654_321)]
        XCTAssertEqual(utimensat(AT_FDCWD, "\(m)/big.bin", &times, 0), 0)
        XCTAssertEqual(utimensat(AT_FDCWD, "\(m)/dir/sub", &times, 0), 0)

        let set = lstatOrNil("\(m)/big.bin")
        XCTAssertEqual(set?.st_atim.tv_sec, 1_000_000_000)
        XCTAssertEqual(set?.st_atim.tv_nsec, 123_456_789)
        XCTAssertEqual(set?.st_mtim.tv_sec, 1_600_000_000)
        XCTAssertEqual(set?.st_mtim.tv_nsec, 987_654_321)

        let before = try snapshotTree(m, xattrs: true, mtimes: true)
        let inoBig = lstatOrNil("\(m)/big.bin")?.st_ino, inoLink = lstatOrNil("\(m)/dir/hardlink.bin")?.st_ino
        XCTAssertEqual(inoBig, inoLink)

        vol.unmount()
        XCTAssertFalse(isMounted(m))
        try vol.mount()

        let after = try snapshotTree(m, xattrs: true, mtimes: true)
        let diffs = treeDifferences(before, after, labels: ("before", "after"))
        XCTAssertTrue(diffs.isEmpty, "changed by unmount + mount:\n" + diffs.joined(separator: "\n"))
        XCTAssertEqual(try readFile("\(m)/big.bin"), big)
        XCTAssertEqual(lstatOrNil("\(m)/big.bin")?.st_nlink, 2)
        XCTAssertEqual(lstatOrNil("\(m)/big.bin")?.st_ino, lstatOrNil("\(m)/dir/hardlink.bin")?.st_ino, "hard links share an inode")
        let st = lstatOrNil("\(m)/big.bin")
        XCTAssertEqual(st?.st_mtim.tv_sec, 1_600_000_000)
        XCTAssertEqual(st?.st_mtim.tv_nsec, 987_654_321)
        XCTAssertEqual(lstatOrNil("\(m)/dir/sub/nested.txt")?.st_uid, 1234)
        XCTAssertEqual(lstatOrNil("\(m)/dir/sub/nested.txt")?.st_gid, 5678)
        XCTAssertEqual(readLink("\(m)/link"), "dir/sub/nested.txt")
        XCTAssertEqual(try readFile("\(m)/link"), Array("nested".utf8), "relative symlink resolves inside the mount")
        XCTAssertEqual(getXattr("\(m)/dir", "user.dirattr").value, Array("on a directory".utf8))
        let sparse = try readFile("\(m)/sparse")
        XCTAssertEqual(sparse.count, 1_000_003)
        XCTAssertTrue(sparse.prefix(1_000_000).allSatisfy { $0 == 0 })
        XCTAssertEqual(Array(sparse.suffix(3)), Array("end".utf8))

        // And the data keeps working after the remount.
        try writeFile("\(m)/dir/after-remount", "new")
        XCTAssertEqual(try readFile("\(m)/dir/after-remount"), Array("new".utf8))
    }
}
