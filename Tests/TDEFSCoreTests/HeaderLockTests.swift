import Foundation
import Glibc
import Logging
import Synchronization
import XCTest
@testable import TDEFSCore

/// Headers are replaced without a reader ever seeing half of one (issue 19, item 6): while a
/// writer holds the header lock, as `tdefs rotate`'s rewrap does, and leaves the header torn for a
/// while, the engine's header load waits and then reads the whole, restored header.
final class HeaderLockTests: XCTestCase {
    func testHeaderLoadWaitsForAWriterHoldingTheLock() throws {
        let fixture = try EngineFixture()
        defer { fixture.remove() }
        let content = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 31 + 7) }
        XCTAssertEqual(try fixture.makeFile("data", content), content.count)
        let backingFD = open(try fixture.onlyBackingFile(), O_RDWR)
        XCTAssertGreaterThanOrEqual(backingFD, 0)
        defer { close(backingFD) }
        var header = [UInt8](repeating: 0, count: FileHeader.byteCount)
        XCTAssertEqual(pread(backingFD, &header, header.count, 0), header.count)
        let original = header

        // A second engine over the same backing directory: its inode has no header loaded yet.
        let reader = try FileSystem(backingPath: fixture.backing, keyring: fixture.keyring,
                                    options: EngineOptions(chownToCaller: false), logger: Logger(label: "test"))
        defer { reader.destroy() }
        let entry = try reader.lookup(parent: 1, name: "data")
        let lockTaken = DispatchSemaphore(value: 0), writerDone = DispatchSemaphore(value: 0)
        let restored = Atomic<Bool>(false), lockFailed = Atomic<Bool>(false)
        var result: Result<[UInt8], Errno>?
        let writer = Thread {
            defer { writerDone.signal() }
            do {
                try HeaderLock.withLock(fd: backingFD) { () throws(Errno) in
                    lockTaken.signal()
                    let half = [UInt8](repeating: 0, count: FileHeader.byteCount / 2)
                    _ = pwrite(backingFD, half, half.count, 0)  // torn: the first half zeroed
                    usleep(300_000)  // time for a reader that did not wait to read the torn header
                    _ = pwrite(backingFD, original, original.count, 0)
                    restored.store(true, ordering: .sequentiallyConsistent)
                }
            } catch {
                lockFailed.store(true, ordering: .sequentiallyConsistent)
                lockTaken.signal()
            }
        }
        writer.start()
        lockTaken.wait()
        // The writer is done before the descriptor closes, whatever the reader did.
        defer { writerDone.wait() }
        XCTAssertFalse(lockFailed.load(ordering: .sequentiallyConsistent), "the writer took the header lock")
        do {
            let file = try reader.open(entry.node, flags: O_RDONLY)
            defer { reader.release(file) }
            var buf = [UInt8](repeating: 0, count: content.count + 10)
            let n = try buf.withUnsafeMutableBytes { try reader.read(file, offset: 0, into: $0) }
            result = .success(Array(buf[0..<n]))
        } catch {
            result = .failure(error as? Errno ?? Errno.EIO)
        }
        XCTAssertTrue(restored.load(ordering: .sequentiallyConsistent), "the header load waited for the writer's lock")
        switch result {
        case .success(let bytes): XCTAssertEqual(bytes, content, "the whole header was read, never the torn one")
        case .failure(let e): XCTFail("read failed: errno \(e.code) (the torn header was read)")
        case nil: XCTFail("no result")
        }
    }
}
