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
        for version: UInt8 in [1, 2] {
            let a = DirectoryIV.random(keys: Self.keys(epoch: 1), version: version), b = DirectoryIV.random(keys: Self.keys(epoch: 1), version: version)
            XCTAssertNotEqual(a.iv, b.iv)
            XCTAssertEqual(DirectoryIV(parsing: a.bytes), a)
            XCTAssertEqual(a.version, version)
        }
    }

    /// Keys of a fixed master key (bytes 0...31) and volume ID (16 bytes 0x11).
    static func keys(epoch: UInt32, volumeID: [UInt8] = [UInt8](repeating: 0x11, count: 16)) -> EpochKeys {
        EpochKeys(epoch: epoch, size: .aes256, masterKey: SecureBytes(copying: (0..<32).map { UInt8($0) }), volumeID: volumeID)
    }

    /// Version 2 (format 3 volumes): the 28 bytes of version 1 with version byte 2, then the tag.
    /// Checked against Python's cryptography package: AESSIV(HKDF-SHA256(master, salt volume ID,
    /// info "tdefs v3 diriv-mac", 64 bytes)).encrypt(fields, None)[:16].
    static let sampleV2Tag: [UInt8] = [0xb1, 0xa3, 0x96, 0xd9, 0x75, 0xcf, 0x7e, 0x29, 0xc2, 0x19, 0x2a, 0xbb, 0x1b, 0xc3, 0x64, 0x69]

    func testVersion2FixedBytes() {
        let iv = DirectoryIV(epoch: 7, iv: (0..<16).map { UInt8(0xA0 + $0) }).authenticated(keys: Self.keys(epoch: 7))
        var expected = Self.sample
        expected[4] = 2
        XCTAssertEqual(iv.bytes, expected + Self.sampleV2Tag)
        XCTAssertEqual(DirectoryIV(parsing: iv.bytes), iv)
        XCTAssertTrue(iv.isAuthentic(keys: Self.keys(epoch: 7)))
    }

    /// Every changed byte, another epoch's keys and another volume's keys fail the tag.
    func testVersion2TagBindsEveryByte() {
        let keys = Self.keys(epoch: 7)
        let good = DirectoryIV.random(keys: keys, version: 2)
        for i in 0..<good.bytes.count {
            var b = good.bytes
            b[i] ^= 0x01
            if let parsed = DirectoryIV(parsing: b), let k = parsed.epoch == 7 ? keys : nil {
                XCTAssertFalse(parsed.isAuthentic(keys: k), "byte \(i)")
            }
        }
        var otherEpoch = good
        otherEpoch.epoch = 8
        XCTAssertFalse(otherEpoch.isAuthentic(keys: Self.keys(epoch: 8)), "the tag binds the epoch")
        XCTAssertFalse(good.isAuthentic(keys: Self.keys(epoch: 7, volumeID: [UInt8](repeating: 0x22, count: 16))), "and the volume")
        var truncated = good
        truncated.version = 1
        truncated.tag = []
        XCTAssertFalse(truncated.isAuthentic(keys: keys), "a version-1 IV is never authentic")
    }

    /// Which IVs the engine and fsck use (docs/format.md, "Directory IVs").
    func testAcceptanceByVolumeFormat() {
        let keys = Self.keys(epoch: 7)
        let v1 = DirectoryIV.random(keys: keys, version: 1), v2 = DirectoryIV.random(keys: keys, version: 2)
        var forged = v2
        forged.iv[0] ^= 1
        for format in 1...3 {
            XCTAssertTrue(v2.isAcceptable(keys: keys, formatVersion: format, reencryptTarget: nil))
            XCTAssertFalse(forged.isAcceptable(keys: keys, formatVersion: format, reencryptTarget: nil))
            XCTAssertEqual(v1.isAcceptable(keys: keys, formatVersion: format, reencryptTarget: nil), format < 3, "format \(format)")
        }
        XCTAssertTrue(v1.isAcceptable(keys: keys, formatVersion: 3, reencryptTarget: 8), "not yet moved by the re-encryption to 8")
        XCTAssertTrue(v1.isAcceptable(keys: keys, formatVersion: 3, reencryptTarget: 7),
                      "made under the target epoch before the volume became format 3: the re-encryption moves it too")
        XCTAssertFalse(forged.isAcceptable(keys: keys, formatVersion: 3, reencryptTarget: 7))
    }

    /// A next IV (tdefs.diriv.next) only while a re-encryption towards its epoch is recorded.
    func testNextIVAcceptance() {
        let keys = Self.keys(epoch: 7)
        let v1 = DirectoryIV.random(keys: keys, version: 1), v2 = DirectoryIV.random(keys: keys, version: 2)
        var forged = v2
        forged.iv[0] ^= 1
        for iv in [v1, v2] {
            XCTAssertTrue(iv.isAcceptableAsNext(keys: keys, reencryptTarget: 7), "version \(iv.version), towards its epoch")
            XCTAssertFalse(iv.isAcceptableAsNext(keys: keys, reencryptTarget: nil), "version \(iv.version), no re-encryption recorded")
            XCTAssertFalse(iv.isAcceptableAsNext(keys: keys, reencryptTarget: 8), "version \(iv.version), towards another epoch")
        }
        XCTAssertFalse(forged.isAcceptableAsNext(keys: keys, reencryptTarget: 7))
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
        for v: UInt8 in [0, 2, 255] {  // (2 needs its 16-byte tag)
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
        let iv = DirectoryIV.random(keys: Self.keys(epoch: 3), version: 2)
        try iv.write(directoryFD: dfd)
        var st = stat()
        XCTAssertEqual(stat(dir + "/tdefs.diriv", &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o400)
        XCTAssertEqual(st.st_size, 44)
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
