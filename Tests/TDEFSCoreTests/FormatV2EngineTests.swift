import Glibc
import Foundation
import XCTest
@testable import TDEFSCore

/// Format version 2 in the engine (docs/format.md, "Format version 2"): random writes and
/// truncations match a model in both versions; a v2 file never stores an all-zero extent and
/// always ends in a final one, while a v1 file still leaves holes.
final class FormatV2EngineTests: XCTestCase {
    func run(version: UInt8, check: (_ backingFile: [UInt8], _ step: Int) -> Void) throws {
        let fixture = try EngineFixture(formatVersion: Int(version))
        defer { fixture.remove() }
        let fs = fixture.fs
        let (entry, f) = try fs.create(parent: 1, name: "data", mode: 0o644, flags: O_RDWR, context: .daemon)
        var model = [UInt8]()
        var rng = SystemRandomNumberGenerator()
        for step in 0..<200 {
            if Int.random(in: 0..<10, using: &rng) < 7 {
                // Offsets reach well past the end, so that files grow over gaps.
                let off = Int.random(in: 0...(model.count + 20000), using: &rng)
                let bytes = (0..<Int.random(in: 1...9000, using: &rng)).map { _ in UInt8.random(in: 1...255, using: &rng) }
                let n = try bytes.withUnsafeBytes { try fs.write(f, offset: Int64(off), from: $0) }
                XCTAssertEqual(n, bytes.count)
                if model.count < off + bytes.count { model += [UInt8](repeating: 0, count: off + bytes.count - model.count) }
                model.replaceSubrange(off..<(off + bytes.count), with: bytes)
            } else {
                let size = Int.random(in: 0...(model.count + 20000), using: &rng)
                var ch = AttributeChanges()
                ch.size = UInt64(size)
                _ = try fs.setattr(entry.node, file: f, ch)
                if size < model.count { model.removeLast(model.count - size) } else { model += [UInt8](repeating: 0, count: size - model.count) }
            }
            var buf = [UInt8](repeating: 0xAA, count: model.count + 10)
            let n = try buf.withUnsafeMutableBytes { try fs.read(f, offset: 0, into: $0) }
            XCTAssertEqual(Array(buf[0..<n]), model, "read after step \(step)")
            let name = try FileManager.default.contentsOfDirectory(atPath: fixture.backing).first { !$0.contains(".") }!
            check(try Array(Data(contentsOf: URL(fileURLWithPath: fixture.backing + "/" + name))), step)
        }
        fs.release(f)
    }

    /// The stored extents of a backing file, each as its bytes.
    func extents(_ b: [UInt8]) -> [ArraySlice<UInt8>] {
        stride(from: FileHeader.byteCount, to: b.count, by: ExtentGeometry.storedBytes).map {
            b[$0..<min(b.count, $0 + ExtentGeometry.storedBytes)]
        }
    }

    func testVersion2StoresNoHolesAndEndsInAFinalExtent() throws {
        try run(version: 2) { b, step in
            if b.count >= 5 { XCTAssertEqual(b[5], 2, "header version") }
            let e = extents(b)
            for (i, x) in e.enumerated() { XCTAssertFalse(x.allSatisfy { $0 == 0 }, "step \(step): extent \(i) is stored") }
            if let last = e.last { XCTAssertEqual(last.first! & 1, 1, "step \(step): the last extent is final") }
        }
    }

    func testVersion1StillLeavesHoles() throws {
        var sawHole = false
        try run(version: 1) { b, _ in
            if b.count >= 5 { XCTAssertEqual(b[5], 1, "header version") }
            if extents(b).contains(where: { $0.allSatisfy { $0 == 0 } }) { sawHole = true }
        }
        XCTAssertTrue(sawHole, "writes past the end leave all-zero (hole) extents in v1")
    }
}
