import Glibc
import Foundation
import Logging
import XCTest
@testable import TDEFSCore

/// The engine driven directly, without a mount: content round trips across extents, holes,
/// truncation, names, and the backing bytes it leaves.
final class EngineTests: XCTestCase {
    var backing = ""
    var fs: FileSystem!

    override func setUpWithError() throws {
        let fixture = try EngineFixture()
        backing = fixture.backing
        fs = fixture.fs
    }

    override func tearDown() {
        fs = nil
        _ = system("rm -rf '\(backing)'")
    }

    func write(_ f: OpenFile, _ bytes: [UInt8], at offset: Int64) throws {
        let n = try bytes.withUnsafeBytes { try fs.write(f, offset: offset, from: $0) }
        XCTAssertEqual(n, bytes.count)
    }

    func read(_ f: OpenFile, _ count: Int, at offset: Int64) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0xAA, count: count)
        let n = try buf.withUnsafeMutableBytes { try fs.read(f, offset: offset, into: $0) }
        return Array(buf[0..<n])
    }

    func testContentMatchesAModelAcrossExtentsHolesAndTruncation() throws {
        let (entry, f) = try fs.create(parent: 1, name: "data", mode: 0o644, flags: O_RDWR, context: .daemon)
        var model = [UInt8]()
        var rng = SystemRandomNumberGenerator()
        for step in 0..<300 {
            let choice = Int.random(in: 0..<10, using: &rng)
            if choice < 7 {
                let off = Int.random(in: 0...(model.count + 9000), using: &rng)
                let len = Int.random(in: 1...13000, using: &rng)
                let bytes = (0..<len).map { _ in UInt8.random(in: 0...255, using: &rng) }
                try write(f, bytes, at: Int64(off))
                if model.count < off + len { model += [UInt8](repeating: 0, count: off + len - model.count) }
                model.replaceSubrange(off..<(off + len), with: bytes)
            } else {
                let size = Int.random(in: 0...(model.count + 10000), using: &rng)
                var ch = AttributeChanges()
                ch.size = UInt64(size)
                _ = try fs.setattr(entry.node, file: f, ch)
                if size < model.count { model.removeLast(model.count - size) } else { model += [UInt8](repeating: 0, count: size - model.count) }
            }
            XCTAssertEqual(try fs.getattr(entry.node).st_size, model.count, "size after step \(step)")
            let off = Int.random(in: 0...max(0, model.count), using: &rng)
            let len = Int.random(in: 0...20000, using: &rng)
            let got = try read(f, len, at: Int64(off))
            XCTAssertEqual(got, Array(model[min(off, model.count)..<min(model.count, off + len)]), "read after step \(step)")
        }
        XCTAssertEqual(try read(f, model.count + 10, at: 0), model)
    }

    /// The kernel's own mtime (writeback cache) waits in memory until a full fsync, a close or the
    /// unmount; getattr shows it at once, writes and fdatasync leave it alone, and a setattr of
    /// times by path replaces it (or, setting only the atime, takes it along).
    func testKernelMtimeReachesTheBackingFileAtFsyncCloseAndUnmount() throws {
        func backingMtime() -> timespec {
            var st = stat()
            XCTAssertEqual(stat(backing + "/" + backingNames().first!, &st), 0)
            return st.st_mtim
        }
        func backingNames() -> [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: backing))?.filter { !$0.contains(".") } ?? []
        }
        func cachedWrite(_ f: OpenFile, _ bytes: [UInt8], at offset: Int64) throws {
            let n = try bytes.withUnsafeBytes { try fs.write(f, offset: offset, from: $0, keepingMtime: true) }
            XCTAssertEqual(n, bytes.count)
        }
        func mtimeSetattr(_ t: timespec) -> AttributeChanges {
            var ch = AttributeChanges()
            ch.mtime = .set(t)
            ch.mtimeMayWait = true
            return ch
        }
        let (entry, f) = try fs.create(parent: 1, name: "db", mode: 0o644, flags: O_RDWR, context: .daemon)
        try cachedWrite(f, Array(repeating: 7, count: 5000), at: 0)
        let kernelTime = timespec(tv_sec: 1_500_000_000, tv_nsec: 123_456_789)
        let answered = try fs.setattr(entry.node, file: f, mtimeSetattr(kernelTime))
        XCTAssertEqual(answered.st_mtim.tv_sec, kernelTime.tv_sec)
        XCTAssertEqual(answered.st_mtim.tv_nsec, kernelTime.tv_nsec)
        XCTAssertEqual(answered.st_size, 5000)
        XCTAssertEqual(try fs.getattr(entry.node).st_mtim.tv_nsec, kernelTime.tv_nsec)
        XCTAssertNotEqual(backingMtime().tv_sec, kernelTime.tv_sec, "waits in memory")
        // A write after it (the kernel may send its times before the data they cover) keeps it,
        // and fdatasync leaves it waiting.
        try cachedWrite(f, [1, 2, 3], at: 9000)
        try fs.fsync(f, dataOnly: true)
        XCTAssertNotEqual(backingMtime().tv_sec, kernelTime.tv_sec)
        XCTAssertEqual(try fs.getattr(entry.node).st_mtim.tv_sec, kernelTime.tv_sec)
        try fs.fsync(f, dataOnly: false)
        XCTAssertEqual(backingMtime().tv_sec, kernelTime.tv_sec, "a full fsync sets it")
        XCTAssertEqual(backingMtime().tv_nsec, kernelTime.tv_nsec)

        // The first write after that notes the backing mtime (the one the kernel knows) and gets
        // it back at close.
        try cachedWrite(f, [4], at: 10)
        XCTAssertEqual(try fs.getattr(entry.node).st_mtim.tv_nsec, kernelTime.tv_nsec)
        fs.release(f)
        XCTAssertEqual(backingMtime().tv_sec, kernelTime.tv_sec, "close sets it")
        XCTAssertEqual(backingMtime().tv_nsec, kernelTime.tv_nsec)

        // A time set by path replaces a deferred one, which then never overwrites it.
        let g = try fs.open(entry.node, flags: O_RDWR)
        _ = try fs.setattr(entry.node, file: g, mtimeSetattr(timespec(tv_sec: 1_700_000_000, tv_nsec: 0)))
        var byPath = AttributeChanges()
        byPath.mtime = .set(timespec(tv_sec: 1_234_567_890, tv_nsec: 5))
        _ = try fs.setattr(entry.node, file: nil, byPath)
        fs.release(g)
        XCTAssertEqual(backingMtime().tv_sec, 1_234_567_890)
        XCTAssertEqual(try fs.getattr(entry.node).st_mtim.tv_nsec, 5)

        // Setting only the atime by path (touch -a) takes the deferred mtime along.
        let h = try fs.open(entry.node, flags: O_RDWR)
        try cachedWrite(h, [9], at: 4096)
        _ = try fs.setattr(entry.node, file: h, mtimeSetattr(timespec(tv_sec: 1_650_000_000, tv_nsec: 42)))
        var atimeOnly = AttributeChanges()
        atimeOnly.atime = .set(timespec(tv_sec: 1_000_000_000, tv_nsec: 0))
        _ = try fs.setattr(entry.node, file: nil, atimeOnly)
        XCTAssertEqual(backingMtime().tv_sec, 1_650_000_000)
        XCTAssertEqual(backingMtime().tv_nsec, 42)

        // At unmount, with the file still open (no release comes then).
        _ = try fs.setattr(entry.node, file: h, mtimeSetattr(timespec(tv_sec: 1_660_000_000, tv_nsec: 7)))
        try cachedWrite(h, [5], at: 20_000)
        XCTAssertNotEqual(backingMtime().tv_sec, 1_660_000_000)
        fs.destroy()
        XCTAssertEqual(backingMtime().tv_sec, 1_660_000_000, "unmount sets it")
        XCTAssertEqual(backingMtime().tv_nsec, 7)
    }

    /// Requests larger than one workspace chunk (64 extents) are served in several preads and
    /// pwrites; unaligned edges on both sides and a hole in between must come back exactly.
    func testRequestsLargerThanAChunkRoundTrip() throws {
        let (_, f) = try fs.create(parent: 1, name: "big", mode: 0o644, flags: O_RDWR, context: .daemon)
        var rng = SystemRandomNumberGenerator()
        let mib = 1 << 20
        let a = (0..<(mib + 1234)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let b = (0..<(mib - 777)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try write(f, a, at: 777)
        try write(f, b, at: 3 * Int64(mib) + 4095)
        var model = [UInt8](repeating: 0, count: 3 * mib + 4095 + b.count)
        model.replaceSubrange(777..<(777 + a.count), with: a)
        model.replaceSubrange((3 * mib + 4095)..<model.count, with: b)
        // Overwrite across a chunk boundary in the middle of the first range.
        let c = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try write(f, c, at: 200_001)
        model.replaceSubrange(200_001..<(200_001 + c.count), with: c)
        for (off, len) in [(0, mib), (777, mib + 1234), (262_143, 600_000), (mib, 2 * mib), (3 * mib, mib + 5000)] {
            XCTAssertEqual(try read(f, len, at: Int64(off)), Array(model[off..<min(model.count, off + len)]), "read \(len) at \(off)")
        }
    }

    func testNamesAreEncryptedAndListed() throws {
        _ = try fs.mkdir(parent: 1, name: "dir", mode: 0o755, context: .daemon)
        let d = try fs.lookup(parent: 1, name: "dir")
        let long = String(repeating: "n", count: 255)
        for name in ["a", "b c", long] {
            let (_, f) = try fs.create(parent: d.node, name: name, mode: 0o600, flags: O_RDWR, context: .daemon)
            try write(f, Array(name.utf8), at: 0)
        }
        let dir = try fs.opendir(d.node)
        let names = try fs.readdir(dir, offset: 0).map(\.name)
        XCTAssertEqual(Set(names), Set([".", "..", "a", "b c", long]))
        XCTAssertThrowsError(try fs.lookup(parent: d.node, name: String(repeating: "x", count: 256))) {
            XCTAssertEqual(($0 as? Errno)?.code, ENAMETOOLONG)
        }
        try fs.rename(parent: d.node, name: long, newParent: 1, newName: "short", flags: 0)
        XCTAssertThrowsError(try fs.rmdir(parent: 1, name: "dir")) { XCTAssertEqual(($0 as? Errno)?.code, ENOTEMPTY) }
        try fs.unlink(parent: d.node, name: "a")
        try fs.unlink(parent: d.node, name: "b c")
        try fs.rmdir(parent: 1, name: "dir")
        let root = try fs.readdir(try fs.opendir(1), offset: 0).map(\.name)
        XCTAssertEqual(Set(root), Set([".", "..", "short"]))
        let s = try fs.lookup(parent: 1, name: "short")
        XCTAssertEqual(try read(try fs.open(s.node, flags: O_RDONLY), 1000, at: 0), Array(long.utf8))
        // Nothing but reserved names and base64url names in the backing root.
        let listing = try FileManager.default.contentsOfDirectory(atPath: backing)
        XCTAssertEqual(listing.filter { !$0.hasPrefix("tdefs.") }.count, 1)
    }

    /// A target too long for a backing symlink goes to a side file at the root and back; the last
    /// link's removal takes the side file along (docs/format.md, "Symlinks").
    func testLongSymlinkTargetsUseASideFile() throws {
        let sideFiles = { try FileManager.default.contentsOfDirectory(atPath: self.backing).filter { $0.hasPrefix("tdefs.target.") } }
        let target = String(repeating: "x/", count: 2047) + "y"  // 4095 bytes
        let l = try fs.symlink(target: target, parent: 1, name: "long", context: .daemon)
        XCTAssertEqual(try fs.readlink(l.node), target)
        XCTAssertEqual(l.attr.st_size, 4095)
        XCTAssertEqual(try sideFiles().count, 1)
        _ = try fs.link(l.node, newParent: 1, newName: "second")
        try fs.unlink(parent: 1, name: "long")
        XCTAssertEqual(try sideFiles().count, 1, "a link remains")
        try fs.unlink(parent: 1, name: "second")
        XCTAssertEqual(try sideFiles(), [])
        XCTAssertThrowsError(try fs.symlink(target: target + "z", parent: 1, name: "too-long", context: .daemon)) {
            XCTAssertEqual(($0 as? Errno)?.code, ENAMETOOLONG)
        }
    }

    func testSymlinksAndXattrs() throws {
        let target = "../some/where"
        let l = try fs.symlink(target: target, parent: 1, name: "link", context: .daemon)
        XCTAssertEqual(try fs.readlink(l.node), target)
        XCTAssertEqual(l.attr.st_size, target.utf8.count)
        let (e, _) = try fs.create(parent: 1, name: "f", mode: 0o644, flags: O_RDWR, context: .daemon)
        let value: [UInt8] = Array("value".utf8)
        try value.withUnsafeBytes { try fs.setxattr(e.node, name: "user.k", value: $0, flags: 0) }
        XCTAssertEqual(try fs.getxattr(e.node, name: "user.k"), value)
        XCTAssertEqual(try fs.listxattr(e.node), ["user.k"])
        try fs.removexattr(e.node, name: "user.k")
        XCTAssertThrowsError(try fs.getxattr(e.node, name: "user.k")) { XCTAssertEqual(($0 as? Errno)?.code, ENODATA) }
    }
}
