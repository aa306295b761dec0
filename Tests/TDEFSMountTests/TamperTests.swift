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
