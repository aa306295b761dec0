import CPlatform
import Foundation
import Glibc
import XCTest

/// Hostile changes to the backing directory, each seen through the mount (EIO or a clear error,
/// a log line naming the plaintext path) and through `tdefs fsck` (exit 20, the problem named).
final class TamperTests: MountTestCase {
    /// Writes `files` through the mount, unmounts, and returns each file's backing path.
    func prepare(_ files: [String: [UInt8]]) throws -> [String: String] {
        for (name, data) in files { try writeFile("\(m)/\(name)", data) }
        var inodes: [UInt64: String] = [:]
        for name in files.keys { inodes[UInt64(statOrNil("\(m)/\(name)")!.st_ino)] = name }
        vol.unmount()
        var out: [String: String] = [:]
        for entry in try listDir(vol.backing) where !entry.contains(".") || (entry.hasPrefix("tdefs.long.") && !entry.hasSuffix(".name")) {
            let path = vol.backing + "/" + entry
            if let st = lstatOrNil(path), let name = inodes[UInt64(st.st_ino)] { out[name] = path }
        }
        XCTAssertEqual(out.count, files.count, "every file found in the backing directory")
        return out
    }

    func patch(_ path: String, at offset: Int, _ bytes: [UInt8]) throws {
        let fd = open(path, O_RDWR)
        try check(fd, "open \(path)")
        defer { close(fd) }
        try writeAll(fd, bytes, at: Int64(offset))
    }

    func bytes(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        try check(fd, "open \(path)")
        defer { close(fd) }
        return preadBytes(fd, count: count, at: Int64(offset)).bytes
    }

    func flip(_ path: String, at offset: Int) throws {
        var b = try bytes(path, at: offset, count: 1)
        b[0] ^= 0x5A
        try patch(path, at: offset, b)
    }

    /// fsck's JSON report; asserts exit 20 and that a problem of `kind` names `path`.
    @discardableResult
    func fsckFinds(kind: String, path: String?, detail: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> String {
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--json"])
        XCTAssertEqual(r.status, 20, "fsck exits 20 on damage: \(r.summary)", file: file, line: line)
        XCTAssertTrue(r.stdout.contains("\"kind\": \"\(kind)\""), "fsck reports \(kind): \(r.stdout)", file: file, line: line)
        if let path { XCTAssertTrue(r.stdout.contains("\"path\": \"\(path)\""), "fsck names \(path): \(r.stdout)", file: file, line: line) }
        if let detail { XCTAssertTrue(r.stdout.contains(detail), "fsck says \(detail): \(r.stdout)", file: file, line: line) }
        return r.stdout
    }

    func readErrno(_ path: String, at offset: Int64 = 0, count: Int = 4096) -> Int32 {
        let fd = open(path, O_RDONLY)
        if fd < 0 { return errno }
        defer { close(fd) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM)
        return preadBytes(fd, count: count, at: offset).errno
    }

    let extents3 = (0..<3).flatMap { [UInt8](repeating: UInt8(0x61 + $0), count: 4096) }

    func testCleanVolumeFsckExitsZero() throws {
        _ = try prepare(["a": extents3, "b": Array("small".utf8)])
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stdout.contains("clean"), r.stdout)
    }

    func testFlippedHeaderByte() throws {
        let paths = try prepare(["victim": extents3, "bystander": extents3])
        try flip(paths["victim"]!, at: 60)  // inside the wrapped file key
        fsckFinds(kind: "header", path: "/victim")
        try vol.mount()
        XCTAssertEqual(readErrno("\(m)/victim"), EIO)
        XCTAssertEqual(try readFile("\(m)/bystander"), extents3)
        XCTAssertTrue(vol.daemonLog().contains("/victim"), vol.daemonLog())
    }

    /// The backing entry at the volume's root with inode `ino` (names change under rotate --reencrypt).
    func backingPath(inode ino: UInt64) throws -> String {
        let name = try listDir(vol.backing).first { lstatOrNil(vol.backing + "/" + $0).map { UInt64($0.st_ino) } == ino }
        return vol.backing + "/" + (try XCTUnwrap(name, "backing entry of inode \(ino)"))
    }

    /// An old header of a file, put back as its re-key record (user.tdefs.rekey) after the file
    /// moved on, is refused: the file reads under its header alone, the daemon logs it, fsck
    /// reports it, and the next rotation is not steered by it. A 128-byte record whose tag fails
    /// is damage. (Before, fsck ignored records and the engine took any of the file's headers.)
    func testReplayedOrForgedRekeyRecordIsRefused() throws {
        let paths = try prepare(["f": extents3])
        let old = try bytes(paths["f"]!, at: 0, count: 96)
        let ino = UInt64(lstatOrNil(paths["f"]!)!.st_ino)
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing, "--key-file", vol.keyFile, "--reencrypt"]).status, 0)
        let backing = try backingPath(inode: ino)
        XCTAssertNotEqual(try bytes(backing, at: 0, count: 96), old, "the file has a new header")
        XCTAssertEqual(setXattr(backing, "user.tdefs.rekey", old), 0)
        let out = fsckFinds(kind: "header", path: "/f", detail: "is refused")
        XCTAssertTrue(out.contains("towards epoch 1"), out)
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/f"), extents3, "read under the file's own header")
        try writeFile("\(m)/f", extents3.reversed())
        XCTAssertTrue(vol.daemonLog().contains("re-key record towards epoch 1 refused"), vol.daemonLog())
        vol.unmount()
        XCTAssertEqual(try bytes(backing, at: 8, count: 4), [0, 0, 0, 2], "the header stays under epoch 2")
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing, "--key-file", vol.keyFile, "--reencrypt"]).status, 0)
        let after = try backingPath(inode: ino)
        XCTAssertEqual(try bytes(after, at: 8, count: 4), [0, 0, 0, 3], "moved to epoch 3, never back to 1")
        XCTAssertEqual(vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile]).status, 0, "the planted record is gone")
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/f"), extents3.reversed())
        vol.unmount()
        // A record in the current layout whose tag does not verify under the file's key.
        XCTAssertEqual(setXattr(after, "user.tdefs.rekey", old + [UInt8](repeating: 7, count: 32)), 0)
        fsckFinds(kind: "header", path: "/f", detail: "re-key record (user.tdefs.rekey) is damaged")
    }

    func testExtentsSwappedWithinAFile() throws {
        let paths = try prepare(["f": extents3])
        let p = paths["f"]!
        let e0 = try bytes(p, at: 96, count: 4128), e1 = try bytes(p, at: 96 + 4128, count: 4128)
        try patch(p, at: 96, e1)
        try patch(p, at: 96 + 4128, e0)
        let report = fsckFinds(kind: "extent", path: "/f")
        XCTAssertTrue(report.contains("extent 0") && report.contains("extent 1"), report)
        try vol.mount()
        XCTAssertEqual(readErrno("\(m)/f", at: 0), EIO)
        XCTAssertEqual(readErrno("\(m)/f", at: 4096), EIO)
        let fd = open("\(m)/f", O_RDONLY)
        XCTAssertEqual(preadBytes(fd, count: 4096, at: 8192).bytes, Array(extents3[8192...]), "extent 2 is intact")
        close(fd)
        XCTAssertNotNil(vol.daemonLog().range(of: #"extent[ =:]*[01]\b"#, options: .regularExpression), vol.daemonLog())
    }

    func testExtentCopiedFromAnotherFile() throws {
        let other = [UInt8](repeating: 0x7A, count: 3 * 4096)
        let paths = try prepare(["target": extents3, "source": other])
        try patch(paths["target"]!, at: 96, try bytes(paths["source"]!, at: 96, count: 4128))
        fsckFinds(kind: "extent", path: "/target", detail: "extent 0")
        try vol.mount()
        XCTAssertEqual(readErrno("\(m)/target", at: 0), EIO)
        XCTAssertEqual(try readFile("\(m)/source"), other)
    }

    func testFileTruncatedMidExtent() throws {
        let paths = try prepare(["cut": extents3, "torn": extents3])
        XCTAssertEqual(truncate(paths["cut"]!, off_t(96 + 4128 + 100)), 0)
        XCTAssertEqual(truncate(paths["torn"]!, off_t(96 + 4128 + 20)), 0)  // a tail shorter than nonce + tag
        let report = fsckFinds(kind: "extent", path: "/cut")
        XCTAssertTrue(report.contains("/torn"), report)
        try vol.mount()
        XCTAssertEqual(readErrno("\(m)/cut", at: 0), 0, "extent 0 is intact")
        XCTAssertEqual(readErrno("\(m)/cut", at: 4096), EIO)
        XCTAssertEqual(readErrno("\(m)/torn", at: 0, count: 3 * 4096), EIO, "a torn file never reads as a shorter one")
    }

    // Format v2 (issue 19, item 1): zeroed, punched-out, appended and cut ciphertext is damage.
    // Before v2 each read back as zeros (or as a shorter file) with no error and fsck exit 0.

    func testZeroedExtentIsDetected() throws {
        let paths = try prepare(["f": extents3])
        try patch(paths["f"]!, at: 96 + 4128, [UInt8](repeating: 0, count: 4128))
        fsckFinds(kind: "extent", path: "/f", detail: "extent 1 is all zeros")
        try vol.mount()
        XCTAssertEqual(readErrno("\(m)/f", at: 4096), EIO, "a zeroed extent is not a hole")
        XCTAssertEqual(readErrno("\(m)/f", at: 0), 0, "extent 0 is intact")
        XCTAssertEqual(readErrno("\(m)/f", at: 8192), 0, "extent 2 is intact")
        XCTAssertTrue(vol.daemonLog().contains("/f") && vol.daemonLog().contains("all zeros"), vol.daemonLog())
    }

    func testPunchedHoleIsDetected() throws {
        let paths = try prepare(["f": extents3])
        let fd = open(paths["f"]!, O_RDWR)
        try check(fd, "open")
        // FALLOC_FL_PUNCH_HOLE (2) | FALLOC_FL_KEEP_SIZE: extent 1's blocks are given back.
        XCTAssertEqual(errnoOf { tdefs_fallocate(fd, 2 | tdefs_FALLOC_FL_KEEP_SIZE, 96 + 4128, 4128) }, 0)
        close(fd)
        fsckFinds(kind: "extent", path: "/f", detail: "extent 1")
        try vol.mount()
        XCTAssertEqual(readErrno("\(m)/f", at: 4096), EIO, "a punched hole is not a hole of the file")
        XCTAssertEqual(readErrno("\(m)/f", at: 8192), 0)
    }

    func testZerosAppendedAtAnExtentBoundaryAreDetected() throws {
        let two = Array(extents3.prefix(8192))
        let paths = try prepare(["f": two])
        XCTAssertEqual(lstatOrNil(paths["f"]!)?.st_size, off_t(96 + 2 * 4128))
        try patch(paths["f"]!, at: 96 + 2 * 4128, [UInt8](repeating: 0, count: 4128))
        fsckFinds(kind: "extent", path: "/f", detail: "extent 2")
        try vol.mount()
        // The size grows by the appended extent (the backing size is all there is), but its bytes never read.
        XCTAssertEqual(statOrNil("\(m)/f")?.st_size, off_t(3 * 4096))
        XCTAssertEqual(readErrno("\(m)/f", at: 8192), EIO)
        XCTAssertEqual(readErrno("\(m)/f", at: 0, count: 3 * 4096), EIO, "the whole file never reads as data plus zeros")
        XCTAssertEqual(readErrno("\(m)/f", at: 0, count: 8192), 0, "the original extents are intact")
    }

    func testCutAtAnExtentBoundaryIsDetected() throws {
        let paths = try prepare(["f": extents3])
        XCTAssertEqual(truncate(paths["f"]!, off_t(96 + 2 * 4128)), 0)
        fsckFinds(kind: "extent", path: "/f", detail: "extent 1 ends the file but is not final")
        try vol.mount()
        // The size is the backing file's (8192), but the end does not read: the file was cut.
        XCTAssertEqual(readErrno("\(m)/f", at: 4096), EIO)
        XCTAssertEqual(readErrno("\(m)/f", at: 0, count: 8192), EIO, "a cut file never reads as a shorter one")
        XCTAssertEqual(readErrno("\(m)/f", at: 0), 0, "extent 0 is intact")
        XCTAssertTrue(vol.daemonLog().contains("cut at an extent boundary"), vol.daemonLog())
    }

    /// Files grown through the mount (a write past the end, ftruncate, fallocate) have no holes in
    /// the backing file: their zeros are encrypted, so every extent is checked and cuts are seen.
    func testGrownFilesStoreEncryptedZeros() throws {
        let fd = open("\(m)/grown", O_RDWR | O_CREAT, 0o644)
        try check(fd, "create")
        try writeAll(fd, Array("head".utf8), at: 0)
        try writeAll(fd, Array("tail".utf8), at: 5 * 4096)        // extents 1..4 are a gap
        XCTAssertEqual(ftruncate(fd, 8 * 4096), 0)                  // extents 5..7 by ftruncate
        XCTAssertEqual(posix_fallocate(fd, 0, 10 * 4096), 0)         // extents 8, 9 by fallocate
        close(fd)
        var want = [UInt8](repeating: 0, count: 10 * 4096)
        want.replaceSubrange(0..<4, with: Array("head".utf8))
        want.replaceSubrange((5 * 4096)..<(5 * 4096 + 4), with: Array("tail".utf8))
        XCTAssertEqual(try readFile("\(m)/grown"), want)
        vol.unmount()
        let names = try listDir(vol.backing).filter { !$0.contains(".") }
        XCTAssertEqual(names.count, 1)
        let backing = vol.backing + "/" + names[0]
        for j in [1, 3, 6, 9] {
            let e = try bytes(backing, at: 96 + j * 4128, count: 4128)
            XCTAssertFalse(e.allSatisfy { $0 == 0 }, "extent \(j) is stored encrypted")
        }
        XCTAssertEqual(vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile]).status, 0)
        try patch(backing, at: 96 + 3 * 4128, [UInt8](repeating: 0, count: 4128))
        fsckFinds(kind: "extent", path: "/grown", detail: "extent 3 is all zeros")
    }

    /// A version 1 volume keeps its rules: all-zero extents are holes, new files get v1 headers.
    func testVersion1VolumeKeepsItsHoles() throws {
        vol.unmount()
        XCTAssertEqual(runCommand("/bin/rm", ["-rf", vol.backing]).status, 0)
        try vol.initVolume(["--format-version", "1"])
        try vol.mount()
        let paths = try prepare(["f": extents3])
        XCTAssertEqual(try bytes(paths["f"]!, at: 4, count: 2), [0, 1], "header version 1")
        try patch(paths["f"]!, at: 96 + 4128, [UInt8](repeating: 0, count: 4128))
        XCTAssertEqual(vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile]).status, 0, "v1: a hole")
        try vol.mount()
        var want = extents3
        want.replaceSubrange(4096..<8192, with: [UInt8](repeating: 0, count: 4096))
        XCTAssertEqual(try readFile("\(m)/f"), want, "v1 reads an all-zero extent as a hole, as before")
    }

    func testFlippedNameByte() throws {
        let paths = try prepare(["renamed-by-attacker": extents3, "kept": extents3])
        let p = paths["renamed-by-attacker"]!
        let name = (p as NSString).lastPathComponent
        var chars = Array(name)
        chars[10] = chars[10] == "A" ? "B" : "A"
        XCTAssertEqual(rename(p, vol.backing + "/" + String(chars)), 0)
        fsckFinds(kind: "name", path: nil, detail: "does not decrypt")
        try vol.mount()
        XCTAssertEqual(Set(try listDir(m)), ["kept"], "the damaged name is left out of the listing")
        XCTAssertTrue(vol.daemonLog().contains("name does not decrypt"), vol.daemonLog())
    }

    func testDamagedLongNameSideFile() throws {
        let long = String(repeating: "long-name-", count: 20)
        _ = try prepare([long: Array("x".utf8)])
        let side = try listDir(vol.backing).first { $0.hasSuffix(".name") }
        let sidePath = vol.backing + "/" + (try XCTUnwrap(side))
        chmod(sidePath, 0o600)
        try flip(sidePath, at: 5)
        fsckFinds(kind: "longName", path: nil, detail: "damaged")
        try vol.mount()
        XCTAssertEqual(try listDir(m), [])
        XCTAssertTrue(vol.daemonLog().contains("long-name file"), vol.daemonLog())
    }

    func testDamagedOrMissingConfig() throws {
        _ = try prepare(["f": extents3])
        let conf = vol.backing + "/tdefs.conf"
        let original = try readFile(conf)
        try writeFile(conf, Array(original.prefix(original.count / 2)), mode: 0o600)
        var r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile])
        XCTAssertEqual(r.status, 11, "damaged tdefs.conf: \(r.summary)")
        XCTAssertTrue(r.stderr.contains("tdefs.conf"), r.stderr)
        XCTAssertFalse(isMounted(vol.mnt))
        XCTAssertEqual(vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile]).status, 11)
        XCTAssertEqual(unlink(conf), 0)
        r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile])
        XCTAssertEqual(r.status, 12, "missing tdefs.conf: \(r.summary)")
        XCTAssertFalse(isMounted(vol.mnt))
        try writeFile(conf, original, mode: 0o600)
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/f"), extents3, "restoring tdefs.conf restores the volume")
    }

    func testLeftoversAreRepairedWithoutTouchingData() throws {
        _ = try prepare(["f": extents3])
        try writeFile(vol.backing + "/tdefs.tmp.0123abcd", "half-made")
        try writeFile(vol.backing + "/tdefs.long.orphan.name", "orphan")
        // Leftovers are reported, but they are not damage: exit 0.
        let check = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--json"])
        XCTAssertEqual(check.status, 0, check.summary)
        XCTAssertTrue(check.stdout.contains("\"leftovers\": 2"), check.stdout)
        XCTAssertTrue(check.stdout.contains("\"kind\": \"leftover\"") && check.stdout.contains("\"kind\": \"longName\""), check.stdout)
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--repair"])
        XCTAssertEqual(r.status, 0, r.summary)
        let after = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(after.status, 0)
        XCTAssertTrue(after.stdout.hasSuffix("clean\n") || after.stdout.hasSuffix("clean"), after.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: vol.backing + "/tdefs.tmp.0123abcd"))
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/f"), extents3)
    }
}
