import CPlatform
import Glibc
import Foundation
import XCTest
@testable import TDEFSCore

/// A kill between a re-key's header switch and the removal of its record leaves the record naming
/// the current header. The next `rotate --reencrypt` towards the same epoch removes it (before,
/// the file counted as done and the record stayed for good).
final class RekeyLeftoverTests: XCTestCase {
    func testALeftoverRecordIsRemovedByTheNextReencryption() throws {
        let fixture = try EngineFixture()
        defer { fixture.remove() }
        let content = (0..<9000).map { UInt8(truncatingIfNeeded: $0 * 5 + 3) }
        XCTAssertEqual(try fixture.makeFile("data", content), content.count)
        let target = EpochKeys(epoch: 2, size: .aes256, masterKey: SecureBytes.random(count: 32), volumeID: fixture.keyring.volumeID)
        fixture.keyring.add(target, makeCurrent: true)
        try fixture.fs.reencryptTree(to: target)

        let path = try fixture.onlyBackingFile()
        var header = [UInt8](repeating: 0, count: FileHeader.byteCount)
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        XCTAssertEqual(pread(fd, &header, header.count, 0), header.count)
        XCTAssertEqual(header[8..<12], [0, 0, 0, 2], "the file is under epoch 2")
        // What the kill leaves: the record of the finished re-key (a release before records had tags).
        XCTAssertEqual(tdefs_fsetxattr(fd, RekeyRecord.attribute, header, header.count, 0), 0)

        try fixture.fs.reencryptTree(to: target)
        XCTAssertLessThan(tdefs_fgetxattr(fd, RekeyRecord.attribute, nil, 0), 0, "the leftover record is gone")
        XCTAssertEqual(errno, ENODATA)
        let entry = try fixture.fs.lookup(parent: 1, name: "data")
        let r = try fixture.fs.open(entry.node, flags: O_RDONLY)
        defer { fixture.fs.release(r) }
        var buf = [UInt8](repeating: 0, count: content.count + 1)
        XCTAssertEqual(Array(buf[0..<(try buf.withUnsafeMutableBytes { try fixture.fs.read(r, offset: 0, into: $0) })]), content)
    }
}
