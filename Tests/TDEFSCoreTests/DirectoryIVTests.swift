import XCTest
import Glibc
import TDEFSCore

final class DirectoryIVTests: XCTestCase {
    static let sample: [UInt8] = Array("TDDI".utf8) + [1, 0, 0, 0] + [0, 0, 0, 7] + (0..<16).map { UInt8(0xA0 + $0) }

    func testFixedBytes() {
        let iv = DirectoryIV(epoch: 7, iv: (0..<16).map { UInt8(0xA0 + $0) })
        XCTAssertEqual(iv.bytes, Self.sample)
        XCTAssertEqual(iv.bytes.count, 28)
        XCTAssertEqual(DirectoryIV(parsing: Self.sample), iv)
        XCTAssertEqual(DirectoryIV.fileName, "tdefs.diriv")
    }

    func testEpochIsBigEndian() {
        let iv = DirectoryIV(epoch: 0x01020304, iv: [UInt8](repeating: 0, count: 16))
        XCTAssertEqual(Array(iv.bytes[8..<12]), [1, 2, 3, 4])
        XCTAssertEqual(DirectoryIV(parsing: iv.bytes)?.epoch, 0x01020304)
    }

    func testRandomIVsDiffer() {
        let a = DirectoryIV.random(epoch: 1), b = DirectoryIV.random(epoch: 1)
        XCTAssertNotEqual(a.iv, b.iv)
        XCTAssertEqual(DirectoryIV(parsing: a.bytes), a)
    }

    func testMalformedBytes() {
        var cases: [(String, [UInt8])] = [
            ("empty", []),
            ("one byte short", Array(Self.sample.dropLast())),
            ("one byte long", Self.sample + [0]),
            ("all zero", [UInt8](repeating: 0, count: 28)),
        ]
        for i in 0..<4 {
            var b = Self.sample
            b[i] ^= 0x20
            cases.append(("magic byte \(i)", b))
        }
        for v: UInt8 in [0, 2, 255] {
            var b = Self.sample
            b[4] = v
            cases.append(("version \(v)", b))
        }
        for i in 5..<8 {
            var b = Self.sample
            b[i] = 1
            cases.append(("reserved byte \(i)", b))
        }
        for (name, bytes) in cases {
            XCTAssertNil(DirectoryIV(parsing: bytes), name)
        }
    }

    func testWriteAndReadInDirectory() throws {
        var template = Array("/tmp/tdefs-diriv-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer {
            unlink(dir + "/tdefs.diriv")
            rmdir(dir)
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY)
        XCTAssertGreaterThanOrEqual(dfd, 0)
        defer { close(dfd) }

        XCTAssertThrowsError(try DirectoryIV.read(directoryFD: dfd)) { XCTAssertEqual($0 as? Errno, Errno.ENOENT) }
        let iv = DirectoryIV.random(epoch: 3)
        try iv.write(directoryFD: dfd)
        var st = stat()
        XCTAssertEqual(stat(dir + "/tdefs.diriv", &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o400)
        XCTAssertEqual(st.st_size, 28)
        XCTAssertEqual(try DirectoryIV.read(directoryFD: dfd), iv)
        XCTAssertThrowsError(try iv.write(directoryFD: dfd), "O_EXCL: never overwrite an IV file")

        // A malformed file reads as EIO; so does a longer one.
        for bad in [Array(Self.sample.dropLast()), Self.sample + [0], [UInt8](repeating: 0, count: 28)] {
            unlink(dir + "/tdefs.diriv")
            let fd = open(dir + "/tdefs.diriv", O_WRONLY | O_CREAT | O_EXCL, 0o600)
            XCTAssertEqual(bad.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, bad.count)
            close(fd)
            XCTAssertThrowsError(try DirectoryIV.read(directoryFD: dfd)) { XCTAssertEqual($0 as? Errno, Errno.EIO) }
        }
    }
}
