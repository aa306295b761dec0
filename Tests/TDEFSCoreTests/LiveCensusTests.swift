import Glibc
import Foundation
import XCTest
import CPlatform
@testable import TDEFSCore

/// The daemon's census (LiveCensus) against a walk of the backing directory (VolumeCensus): equal
/// after the first count, after every kind of change, and after changes made while a walk runs.
final class LiveCensusTests: XCTestCase {
    var fixture: EngineFixture!
    var fs: FileSystem { fixture.fs }

    override func setUpWithError() throws { fixture = try EngineFixture() }

    override func tearDown() {
        fixture.fs.destroy()
        fixture.remove()
        fixture = nil
    }

    /// Waits until no walk runs (no time limit is asserted), then returns the counts.
    func counted() -> LiveCensus.Snapshot {
        while fs.census.model.withLock({ $0.running }) { usleep(1000) }
        return fs.census.snapshot(currentEpoch: 1)
    }

    func walked() throws -> FileCensus { try VolumeCensus.count(backingPath: fixture.backing, currentEpoch: 1) }

    func step(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) throws {
        do { try body() } catch { XCTFail("\(what): \(error)", file: file, line: line); throw error }
        try assertMatchesWalk(what, file: file, line: line)
    }

    func assertMatchesWalk(_ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let s = counted()
        XCTAssertEqual(s.state, .current, what, file: file, line: line)
        XCTAssertEqual(s.census, try walked(), what, file: file, line: line)
    }

    @discardableResult
    func create(_ parent: UInt64, _ name: String) throws -> UInt64 {
        let (entry, file) = try fs.create(parent: parent, name: name, mode: 0o644, flags: O_RDWR, context: .daemon)
        _ = try [UInt8](repeating: 1, count: 100).withUnsafeBytes { try fs.write(file, offset: 0, from: $0) }
        fs.release(file)
        return entry.node
    }

    func testCountedAtMountThenKeptUpToDate() throws {
        let d = try fs.mkdir(parent: 1, name: "dir", mode: 0o755, context: .daemon).node
        let e = try fs.mkdir(parent: d, name: "sub", mode: 0o755, context: .daemon).node
        let f = try create(1, "a")
        try create(d, "b")
        _ = try fs.symlink(target: "a", parent: d, name: "link", context: .daemon)
        XCTAssertEqual(fs.census.snapshot(currentEpoch: 1).state, .counting, "nothing counted before the first walk")
        fs.recountCensus()
        try assertMatchesWalk("first count")
        XCTAssertEqual(counted().census?.filesPerEpoch, [1: 2])

        try step("create") {
            try create(e, "c")
        }
        try step("hard link (each name counts, as in the walk)") {
            _ = try fs.link(f, newParent: e, newName: "hard")
        }
        try step("mkdir") {
            _ = try fs.mkdir(parent: e, name: "new", mode: 0o700, context: .daemon)
        }
        try step("symlink with a side file") {
            _ = try fs.symlink(target: String(repeating: "t", count: 4000), parent: 1, name: "long-target", context: .daemon)
        }
        try step("fifo (not counted)") {
            _ = try fs.mknod(parent: 1, name: "fifo", mode: S_IFIFO | 0o644, rdev: 0, context: .daemon)
        }
        try step("mknod of a regular file") {
            _ = try fs.mknod(parent: 1, name: "regular", mode: S_IFREG | 0o644, rdev: 0, context: .daemon)
        }
        try step("rename over a file") {
            try fs.rename(parent: d, name: "b", newParent: 1, newName: "a", flags: 0)
        }
        try step("rename across directories") {
            try fs.rename(parent: e, name: "c", newParent: d, newName: "c2", flags: 0)
        }
        try step("exchange of a symlink and a file") {
            try fs.rename(parent: d, name: "link", newParent: e, newName: "hard", flags: tdefs_RENAME_EXCHANGE)
        }
        try step("unlink") {
            try fs.unlink(parent: e, name: "hard")
            try fs.unlink(parent: 1, name: "fifo")
        }
        try step("rmdir") {
            try fs.rmdir(parent: e, name: "new")
        }
        try step("long names") {
            let long = String(repeating: "n", count: 240)
            try create(d, long)
            try fs.rename(parent: d, name: long, newParent: e, newName: long + "x", flags: 0)
        }
        try step("directory moved") {
            try fs.rename(parent: d, name: "sub", newParent: 1, newName: "moved", flags: 0)
        }
    }

    /// A model of the tree, changed at random by one thread (as the kernel serializes changes of one
    /// directory) while walks run.
    struct Tree {
        var dirs: [UInt64] = [1]
        var files: [(parent: UInt64, name: String)] = []
        var subdirs: [(parent: UInt64, name: String, node: UInt64)] = []
        var n = 0
        mutating func name(_ prefix: String) -> String { n += 1; return "\(prefix)\(n)" }
    }

    func change(_ tree: inout Tree, _ rng: inout SeededGenerator) {
        func dir() -> UInt64 { tree.dirs[Int(rng.next() % UInt64(tree.dirs.count))] }
        func fileIndex() -> Int? { tree.files.isEmpty ? nil : Int(rng.next() % UInt64(tree.files.count)) }
        let pick = rng.next() % 100
        do {
            switch pick {
            case 0..<30:
                let p = dir(), name = tree.name("f")
                try create(p, name)
                tree.files.append((p, name))
            case 30..<38:
                let p = dir(), name = tree.name("d")
                let node = try fs.mkdir(parent: p, name: name, mode: 0o755, context: .daemon).node
                tree.dirs.append(node)
                tree.subdirs.append((p, name, node))
            case 38..<45:
                let p = dir(), name = tree.name("s")
                _ = try fs.symlink(target: "t", parent: p, name: name, context: .daemon)
            case 45..<52:
                guard let i = fileIndex() else { return }
                let entry = try fs.lookup(parent: tree.files[i].parent, name: tree.files[i].name)
                let p = dir(), name = tree.name("h")
                _ = try fs.link(entry.node, newParent: p, newName: name)
                tree.files.append((p, name))
            case 52..<65:
                guard let i = fileIndex() else { return }
                try fs.unlink(parent: tree.files[i].parent, name: tree.files[i].name)
                tree.files.remove(at: i)
            case 65..<80:
                guard let i = fileIndex() else { return }
                let p = dir()
                if let j = fileIndex(), j != i, rng.next() % 2 == 0 {
                    // Over another file.
                    try fs.rename(parent: tree.files[i].parent, name: tree.files[i].name,
                                  newParent: tree.files[j].parent, newName: tree.files[j].name, flags: 0)
                    tree.files.remove(at: i)
                } else {
                    let name = tree.name("r")
                    try fs.rename(parent: tree.files[i].parent, name: tree.files[i].name, newParent: p, newName: name, flags: 0)
                    tree.files[i] = (p, name)
                }
            case 80..<86:
                guard let i = fileIndex(), let j = fileIndex(), i != j else { return }
                try fs.rename(parent: tree.files[i].parent, name: tree.files[i].name,
                              newParent: tree.files[j].parent, newName: tree.files[j].name, flags: tdefs_RENAME_EXCHANGE)
            case 86..<94:
                // A directory moves to another parent (not below itself: the engine refuses that).
                guard !tree.subdirs.isEmpty else { return }
                let k = Int(rng.next() % UInt64(tree.subdirs.count))
                let p = dir(), name = tree.name("m")
                try fs.rename(parent: tree.subdirs[k].parent, name: tree.subdirs[k].name, newParent: p, newName: name, flags: 0)
                tree.subdirs[k].parent = p
                tree.subdirs[k].name = name
            default:
                guard !tree.subdirs.isEmpty else { return }
                let k = Int(rng.next() % UInt64(tree.subdirs.count))
                try fs.rmdir(parent: tree.subdirs[k].parent, name: tree.subdirs[k].name)
                tree.dirs.removeAll { $0 == tree.subdirs[k].node }
                tree.subdirs.remove(at: k)
            }
        } catch {
            // EINVAL (a directory below itself), ENOTEMPTY, ENOENT of a moved parent: the model
            // stays as the tree is.
        }
    }

    func testChangesDuringWalksAreCountedOnce() throws {
        var rng = SeededGenerator(seed: UInt64(time(nil)))
        var tree = Tree()
        for _ in 0..<1500 { change(&tree, &rng) }
        for round in 0..<6 {
            // Round 0 is the first count (nothing published yet); later rounds are recounts.
            fs.recountCensus()
            var overlapped = 0
            for _ in 0..<400 {
                if fs.census.model.withLock({ $0.walk != nil }) { overlapped += 1 }
                change(&tree, &rng)
            }
            let s = counted()
            XCTAssertEqual(s.census, try walked(), "round \(round) (seed \(rng.seed)); \(overlapped) changes while a walk ran")
        }
        // Changes after the last walk, with no walk running.
        for _ in 0..<300 { change(&tree, &rng) }
        XCTAssertEqual(counted().census, try walked(), "after the walks (seed \(rng.seed))")
    }

    func testStaleUntilRecounted() throws {
        try create(1, "a")
        fs.recountCensus()
        XCTAssertEqual(counted().state, .current)
        fs.census.markStale()
        XCTAssertEqual(fs.census.snapshot(currentEpoch: 1).state, .stale)
        fs.recountCensus()
        XCTAssertEqual(counted().state, .current)
    }
}

/// Deterministic xorshift, so that a failing round can be told by its seed.
struct SeededGenerator {
    let seed: UInt64
    var state: UInt64
    init(seed: UInt64) { self.seed = seed; state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
