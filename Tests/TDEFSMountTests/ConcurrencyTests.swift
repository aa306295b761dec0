import XCTest
import Foundation
import Glibc
import CPlatform
import Synchronization

/// Several threads write distinct patterns to overlapping aligned 4096-byte ranges of one file while
/// others read: every extent a reader sees is entirely one pattern, never torn. Readers and writers
/// use O_DIRECT, so every read and write is a request to the daemon: buffered reads are served
/// from the kernel's page cache, where (as on ext4) a read racing a write of the same page may
/// see part of it; that is the kernel's behaviour, not the engine's.
final class ConcurrencyTests: MountTestCase {
    static let extent = 4096
    static let extents = 16
    static let writes = 400

    /// An extent's pattern: its 8-byte tag (writer, sequence) repeated 512 times.
    static func pattern(writer: Int, seq: Int) -> [UInt8] {
        var tag = UInt64(writer + 1) << 32 | UInt64(seq + 1)
        let t = withUnsafeBytes(of: &tag) { Array($0) }
        return Array((0..<(extent / 8)).map { _ in t }.joined())
    }

    /// nil when the extent is one pattern (or all zero), else a description of the tear.
    static func tornReason(_ b: ArraySlice<UInt8>) -> String? {
        let first = Array(b.prefix(8))
        var i = b.startIndex
        while i < b.endIndex {
            if Array(b[i..<(i + 8)]) != first { return "bytes at +\(i - b.startIndex) differ from the first tag" }
            i += 8
        }
        return nil
    }

    func testNoTornExtents() throws {
        let path = "\(m)/shared.bin"
        try writeFile(path, Array((0..<Self.extents).map { Self.pattern(writer: 99, seq: $0) }.joined()))
        let writers = 3, readers = 2
        let done = Atomic<Int>(0)
        let problems = Mutex<[String]>([])
        let group = DispatchGroup()

        for w in 0..<writers {
            group.enter()
            Thread.detachNewThread {
                defer { done.add(1, ordering: .sequentiallyConsistent); group.leave() }
                let fd = open(path, O_WRONLY | tdefs_O_DIRECT)
                if fd < 0 { problems.withLock { $0.append("writer \(w): open \(errName(errno))") }; return }
                defer { close(fd) }
                var rng = SeededRNG(seed: UInt64(w + 1))
                for seq in 0..<Self.writes {
                    let first = Int(rng.next() % UInt64(Self.extents))
                    let count = min(1 + Int(rng.next() % 3), Self.extents - first)
                    let data = Array((0..<count).map { Self.pattern(writer: w, seq: seq * 4 + $0) }.joined())
                    let n = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, data.count, off_t(first * Self.extent)) }
                    if n != data.count { problems.withLock { $0.append("writer \(w): pwrite -> \(n) \(errName(errno))") }; return }
                }
            }
        }
        for r in 0..<readers {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let fd = open(path, O_RDONLY | tdefs_O_DIRECT)
                if fd < 0 { problems.withLock { $0.append("reader \(r): open \(errName(errno))") }; return }
                defer { close(fd) }
                var rng = SeededRNG(seed: UInt64(100 + r))
                var reads = 0
                while done.load(ordering: .sequentiallyConsistent) < writers || reads < 50 {
                    reads += 1
                    let first = Int(rng.next() % UInt64(Self.extents))
                    let count = min(1 + Int(rng.next() % 4), Self.extents - first)
                    let got = preadBytes(fd, count: count * Self.extent, at: Int64(first * Self.extent))
                    if got.errno != 0 || got.bytes.count != count * Self.extent {
                        problems.withLock { $0.append("reader \(r): pread -> \(got.bytes.count) \(errName(got.errno))") }
                        return
                    }
                    for e in 0..<count {
                        if let why = Self.tornReason(got.bytes[(e * Self.extent)..<((e + 1) * Self.extent)]) {
                            problems.withLock { $0.append("reader \(r): extent \(first + e) torn: \(why)") }
                            return
                        }
                    }
                }
            }
        }
        group.wait()
        let found = problems.withLock { $0 }
        XCTAssertTrue(found.isEmpty, found.joined(separator: "\n"))

        let final = try readFile(path)
        XCTAssertEqual(final.count, Self.extents * Self.extent)
        for e in 0..<Self.extents {
            XCTAssertNil(Self.tornReason(final[(e * Self.extent)..<((e + 1) * Self.extent)]), "extent \(e) at the end")
        }
    }
}
