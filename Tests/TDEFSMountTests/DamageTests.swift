import XCTest
import Foundation
import Glibc

/// One byte flipped in a backing file: reads of that extent fail with EIO, other extents and files
/// still read, the daemon keeps running and logs the plaintext path and the extent.
final class DamageTests: MountTestCase {
    func testFlippedByteGivesEIOForThatExtentOnly() throws {
        let name = "damaged-file.bin"
        let extents = (0..<3).map { [UInt8](repeating: UInt8(0x41 + $0), count: 4096) }
        try writeFile("\(m)/\(name)", extents.flatMap { $0 })
        let other = Array(String(repeating: "intact ", count: 1000).utf8)
        try writeFile("\(m)/other.txt", other)
        vol.unmount()

        // Find the 3-extent file's backing file by its size: 96 + 3 * 4128.
        let candidates = try listDir(vol.backing).filter { !$0.contains(".") && lstatOrNil(vol.backing + "/" + $0)?.st_size == 96 + 3 * 4128 }
        XCTAssertEqual(candidates.count, 1, "one backing file of 12480 bytes")
        let backingFile = vol.backing + "/" + candidates[0]
        let fd = open(backingFile, O_RDWR)
        try check(fd, "open backing file")
        var byte: UInt8 = 0
        let at = off_t(96 + 1 * 4128 + 20)
        XCTAssertEqual(pread(fd, &byte, 1, at), 1)
        byte ^= 0x01
        XCTAssertEqual(pwrite(fd, &byte, 1, at), 1)
        close(fd)

        try vol.mount()
        let f = open("\(m)/\(name)", O_RDONLY)
        try check(f, "open damaged file")
        defer { close(f) }
        // No readahead: each read asks for its own extent only.
        _ = posix_fadvise(f, 0, 0, POSIX_FADV_RANDOM)
        let e0 = preadBytes(f, count: 4096, at: 0)
        XCTAssertEqual(e0.errno, 0, "extent 0 reads")
        XCTAssertEqual(e0.bytes, extents[0])
        let e1 = preadBytes(f, count: 4096, at: 4096)
        XCTAssertEqual(e1.errno, EIO, "extent 1 must fail with EIO, got \(errName(e1.errno)) and \(e1.bytes.count) bytes")
        let e2 = preadBytes(f, count: 4096, at: 8192)
        XCTAssertEqual(e2.errno, 0, "extent 2 reads")
        XCTAssertEqual(e2.bytes, extents[2])
        let again = preadBytes(f, count: 100, at: 4096 + 100)
        XCTAssertEqual(again.errno, EIO, "still EIO, never wrong bytes")

        XCTAssertEqual(try readFile("\(m)/other.txt"), other, "another file still reads")
        XCTAssertNotNil(statOrNil(m), "the mount still answers")
        try writeFile("\(m)/new-after-damage", "alive")
        XCTAssertEqual(try readFile("\(m)/new-after-damage"), Array("alive".utf8), "the daemon is still alive")

        let log = vol.daemonLog()
        XCTAssertTrue(log.contains(name), "the log names the plaintext path; log:\n\(log)")
        XCTAssertNotNil(log.range(of: #"extent[ =:#]*1\b"#, options: .regularExpression),
                        "the log names the extent (\"extent 1\" or \"extent=1\"); log:\n\(log)")
    }
}
