import Foundation
import Glibc
import XCTest

/// Extent writes under a file key are counted against the random-nonce bound (issue 19, item 9;
/// Engine/NonceBudget.swift): the count is kept in the backing file's user.tdefs.sealed across
/// mounts, a file reaching half the bound is reported in the log with its path and the remedy,
/// and `rotate --reencrypt` gives the file a new key whose count starts again.
final class NonceBudgetTests: MountTestCase {
    func sealedCount(_ backing: String) -> UInt64? {
        let r = getXattr(backing, "user.tdefs.sealed")
        guard r.errno == 0, r.value.count == 8 else { return nil }
        return r.value.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    func backingPath(inode ino: UInt64) throws -> String {
        let name = try listDir(vol.backing).first { lstatOrNil(vol.backing + "/" + $0).map { UInt64($0.st_ino) } == ino }
        return vol.backing + "/" + (try XCTUnwrap(name))
    }

    func testHalfTheBoundIsReportedAndReencryptStartsAgain() throws {
        try writeFile("\(m)/f", [UInt8](repeating: 1, count: 100 * 4096))
        let ino = UInt64(try XCTUnwrap(statOrNil("\(m)/f")).st_ino)
        vol.unmount()
        var backing = try backingPath(inode: ino)
        XCTAssertGreaterThanOrEqual(sealedCount(backing) ?? 0, 100, "the extents written were counted and kept at the close")
        // As if the key had sealed 2^31 - 3 extents already.
        let start: UInt64 = (1 << 31) - 3
        XCTAssertEqual(setXattr(backing, "user.tdefs.sealed", (0..<8).map { UInt8(truncatingIfNeeded: start >> (56 - 8 * $0)) }), 0)
        try vol.mount()
        let expected = [UInt8](repeating: 2, count: 80 * 4096) + [UInt8](repeating: 1, count: 20 * 4096)
        let fd = open("\(m)/f", O_RDWR)
        try check(fd, "open")
        try writeAll(fd, [UInt8](repeating: 2, count: 80 * 4096), at: 0)  // 80: enough to be kept at the close
        XCTAssertEqual(fsync(fd), 0)
        close(fd)
        XCTAssertEqual(try readFile("\(m)/f"), expected)
        vol.unmount()
        let log = vol.daemonLog()
        XCTAssertTrue(log.contains("half of its key's random-nonce bound") && log.contains("/f"), log)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(sealedCount(backing)), start + 80, "the count went on from the kept one")
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing, "--key-file", vol.keyFile, "--reencrypt"]).status, 0)
        backing = try backingPath(inode: ino)
        XCTAssertLessThan(sealedCount(backing) ?? 0, 1 << 20, "a new key, a new count")
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/f"), expected)
    }
}
