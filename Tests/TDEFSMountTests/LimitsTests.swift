import CPlatform
import Glibc
import XCTest

/// Sizes past what the format can hold give EFBIG; the daemon never traps on them.
final class LimitsTests: MountTestCase {
    func testHugeTruncateAndFallocateGiveEFBIGAndTheDaemonLives() throws {
        try writeFile("\(m)/f", "small")
        XCTAssertEqual(errnoOf { truncate("\(m)/f", off_t(9_200_000_000_000_000_000)) }, EFBIG)
        let fd = open("\(m)/f", O_RDWR)
        try check(fd, "open")
        defer { close(fd) }
        XCTAssertEqual(errnoOf { tdefs_fallocate(fd, 0, 9_200_000_000_000_000_000, 4096) }, EFBIG)
        XCTAssertEqual(errnoOf { Int32(pwrite(fd, "x", 1, off_t(Int64.max - 10))) }, EFBIG)
        XCTAssertEqual(try readFile("\(m)/f"), Array("small".utf8), "the file is unchanged and the mount answers")
    }
}
