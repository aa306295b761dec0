import CPlatform
import Foundation
import Glibc
import XCTest

/// `rotate --reencrypt` moves a format version 1 or 2 volume to version 3 (docs/format.md, "Format
/// versions"; docs/rotation.md): offline, online, and after being killed part way. Afterwards
/// every file has a v2 header, no stored extent is all zeros (v1's holes are encrypted zeros), every
/// file ends in a final extent, every directory IV is authenticated (version 2), the contents and a
/// directory's attribute are unchanged, and a zeroed extent is damage.
final class FormatUpgradeTests: MountTestCase {
    // These tests use user.* extended attributes on the mount.
    override var initOptions: [String] { Self.generalProfile }

    var key: [String] { ["--key-file", vol.keyFile] }

    /// Replaces the freshly made volume by one of an older format (`init --format-version N`).
    func makeVolume(format: Int) throws {
        vol.unmount()
        XCTAssertEqual(runCommand("/bin/rm", ["-rf", vol.backing]).status, 0)
        try vol.initVolume(["--format-version", "\(format)"] + Self.generalProfile)
        try assertConfigFormat(format)
        try vol.mount()
    }

    func assertConfigFormat(_ format: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let text = String(decoding: try readFile(vol.backing + "/tdefs.conf"), as: UTF8.self)
        XCTAssertTrue(text.contains("\"formatVersion\": \(format)") || text.contains("\"formatVersion\" : \(format)"), text, file: file, line: line)
    }

    /// The version byte of every tdefs.diriv in the backing tree.
    func directoryIVVersions() throws -> [UInt8] {
        var out: [UInt8] = [try readFile(vol.backing + "/tdefs.diriv")[4]]
        let e = FileManager.default.enumerator(atPath: vol.backing)!
        while let rel = e.nextObject() as? String {
            if (rel as NSString).lastPathComponent == "tdefs.diriv" && rel.contains("/") { out.append(try readFile(vol.backing + "/" + rel)[4]) }
        }
        return out
    }

    static let dirNote = Array("a directory's attribute".utf8)

    /// Files with holes (a write past the end, ftruncate), a full last extent, a short one, an
    /// empty file, and one in a subdirectory; returns their expected contents.
    func populate() throws -> [String: [UInt8]] {
        var model: [String: [UInt8]] = [:]
        let fd = open("\(m)/sparse", O_RDWR | O_CREAT, 0o644)
        try check(fd, "create sparse")
        try writeAll(fd, Array("head".utf8), at: 0)
        try writeAll(fd, Array("tail".utf8), at: 5 * 4096)
        XCTAssertEqual(ftruncate(fd, 9 * 4096 + 100), 0)
        close(fd)
        var sparse = [UInt8](repeating: 0, count: 9 * 4096 + 100)
        sparse.replaceSubrange(0..<4, with: Array("head".utf8))
        sparse.replaceSubrange((5 * 4096)..<(5 * 4096 + 4), with: Array("tail".utf8))
        model["sparse"] = sparse
        model["full"] = (0..<(3 * 4096)).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
        model["short"] = Array("a short file".utf8)
        model["empty"] = []
        XCTAssertEqual(mkdir("\(m)/dir", 0o755), 0)
        model["dir/inner"] = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 13 + 5) }
        XCTAssertEqual(tdefs_setxattr("\(m)/dir", "user.note", Self.dirNote, Self.dirNote.count, 0), 0, "setxattr on a directory")
        for (name, data) in model where name != "sparse" { try writeFile("\(m)/\(name)", data) }
        return model
    }

    func verify(_ model: [String: [UInt8]], file: StaticString = #filePath, line: UInt = #line) throws {
        for (name, data) in model {
            XCTAssertEqual(try readFile("\(m)/\(name)"), data, "\(name) reads back unchanged", file: file, line: line)
        }
        var buf = [UInt8](repeating: 0, count: 256)
        let n = tdefs_getxattr("\(m)/dir", "user.note", &buf, buf.count)
        XCTAssertEqual(n, Self.dirNote.count, "the directory's attribute: errno \(errno)", file: file, line: line)
        if n > 0 { XCTAssertEqual(Array(buf[0..<n]), Self.dirNote, file: file, line: line) }
    }

    /// The backing files of regular files with content (a header), found by walking the backing tree.
    func backingFiles() -> [String] {
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: vol.backing)!
        while let rel = e.nextObject() as? String {
            let last = (rel as NSString).lastPathComponent
            if last.hasPrefix("tdefs.") { continue }
            let p = vol.backing + "/" + rel
            if let st = lstatOrNil(p), st.st_mode & S_IFMT == S_IFREG, st.st_size > 0 { out.append(p) }
        }
        return out
    }

    /// Each backing file: (header version, whether some stored extent is all zeros, whether the last extent is final).
    func layout() throws -> [(path: String, version: UInt8, hasZeroExtent: Bool, lastIsFinal: Bool)] {
        try backingFiles().map { p in
            let b = try readFile(p)
            let extents = stride(from: 96, to: b.count, by: 4128).map { b[$0..<min(b.count, $0 + 4128)] }
            return (p, b[5], extents.contains { $0.allSatisfy { $0 == 0 } }, (extents.last?.first ?? 1) & 1 == 1)
        }
    }

    func assertNewestFormat(file: StaticString = #filePath, line: UInt = #line) throws {
        let files = try layout()
        XCTAssertGreaterThanOrEqual(files.count, 4, "sparse, full, short, dir/inner have content", file: file, line: line)
        for f in files {
            XCTAssertEqual(f.version, 2, "\(f.path): a v2 header", file: file, line: line)
            XCTAssertFalse(f.hasZeroExtent, "\(f.path): no all-zero extent (holes became encrypted zeros)", file: file, line: line)
            XCTAssertTrue(f.lastIsFinal, "\(f.path): the last extent is final", file: file, line: line)
        }
        let ivs = try directoryIVVersions()
        XCTAssertEqual(ivs.count, 2, "the root and dir", file: file, line: line)
        XCTAssertEqual(Set(ivs), [2], "every directory IV is authenticated (version 2)", file: file, line: line)
        try assertConfigFormat(3, file: file, line: line)
    }

    /// After the upgrade, zeroing an extent of the once-sparse file is damage, not a hole.
    func assertZeroedExtentIsDamage() throws {
        XCTAssertFalse(sparseBacking.isEmpty, "the backing name of /sparse is known")
        let sparse = vol.backing + "/" + sparseBacking
        let fd = open(sparse, O_RDWR)
        try check(fd, "open backing")
        try writeAll(fd, [UInt8](repeating: 0, count: 4128), at: 96 + 2 * 4128)
        close(fd)
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--json"])
        XCTAssertEqual(r.status, 20, r.summary)
        XCTAssertTrue(r.stdout.contains("extent 2 is all zeros"), r.stdout)
    }

    /// The backing name of /sparse once re-encrypted (re-encryption renames every entry).
    var sparseBacking = ""

    func noteSparseBacking() {
        let ino = lstatOrNil("\(m)/sparse")!.st_ino
        sparseBacking = backingFiles().first { lstatOrNil($0)!.st_ino == ino }.map { ($0 as NSString).lastPathComponent } ?? ""
    }

    /// `rotate --reencrypt` of the unmounted volume: format 3, fsck clean, then mounted, the contents as before.
    func reencryptOfflineAndCheck(_ model: [String: [UInt8]], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = vol.tdefs(["rotate", vol.backing] + key + ["--reencrypt"])
        XCTAssertEqual(r.status, 0, r.summary, file: file, line: line)
        try assertNewestFormat(file: file, line: line)
        XCTAssertEqual(vol.tdefs(["fsck", vol.backing] + key).status, 0, file: file, line: line)
        try vol.mount()
        try verify(model, file: file, line: line)
    }

    func testOfflineReencryptMovesAVersion1VolumeToVersion3() throws {
        try makeVolume(format: 1)
        let model = try populate()
        vol.unmount()
        let before = try layout()
        XCTAssertEqual(Set(before.map(\.version)), [1], "the files were made in format 1")
        XCTAssertTrue(before.contains { $0.hasZeroExtent }, "format 1 left holes")
        XCTAssertEqual(Set(try directoryIVVersions()), [1], "and unauthenticated directory IVs")
        try reencryptOfflineAndCheck(model)
        try writeFile("\(m)/new", Array("made after the upgrade".utf8))
        noteSparseBacking()
        vol.unmount()
        XCTAssertEqual(Set(try layout().map(\.version)), [2], "new files are v2")
        try assertZeroedExtentIsDamage()
    }

    func testOnlineReencryptMovesAVersion1VolumeToVersion3() throws { try onlineUpgrade(from: 1) }

    func testOnlineReencryptMovesAVersion2VolumeToVersion3() throws { try onlineUpgrade(from: 2) }

    func onlineUpgrade(from format: Int) throws {
        try makeVolume(format: format)
        let model = try populate()
        XCTAssertEqual(Set(try directoryIVVersions()), [1], "format \(format) makes unauthenticated directory IVs")
        let r = vol.tdefs(["rotate", m] + key + ["--reencrypt"])
        XCTAssertEqual(r.status, 0, r.summary)
        try verify(model)
        // The daemon, mounted in the old format, makes new files and directories in the new one
        // from the re-encryption on.
        try writeFile("\(m)/new", Array("made after the upgrade".utf8))
        XCTAssertEqual(mkdir("\(m)/newdir", 0o755), 0)
        let fd = open("\(m)/new", O_RDWR)
        try check(fd, "open new")
        XCTAssertEqual(ftruncate(fd, 6 * 4096), 0)
        close(fd)
        noteSparseBacking()
        vol.unmount()
        let files = try layout()
        XCTAssertEqual(Set(files.map(\.version)), [2])
        XCTAssertFalse(files.contains { $0.hasZeroExtent }, "no holes, also in the file grown after the upgrade")
        XCTAssertEqual(try directoryIVVersions(), [2, 2, 2], "the root, dir and newdir have authenticated IVs")
        try assertConfigFormat(3)
        XCTAssertEqual(vol.tdefs(["fsck", vol.backing] + key).status, 0)
        try assertZeroedExtentIsDamage()
    }

    /// Killed at random moments, the upgrade leaves a readable volume each time, and finishes.
    func testKilledUpgradeResumes() throws {
        try makeVolume(format: 1)
        var model = try populate()
        // Enough work that the kills land part way.
        for i in 0..<40 {
            let data = (0..<(20_000 + i * 3000)).map { UInt8(truncatingIfNeeded: $0 &* (i + 3)) }
            try writeFile("\(m)/dir/f\(i)", data)
            model["dir/f\(i)"] = data
        }
        vol.unmount()
        for delay: UInt32 in [30_000, 90_000, 200_000, 400_000] {
            _ = runAndKill(["rotate", vol.backing] + key + ["--reencrypt"], after: delay)
            let versions = try layout().map(\.version)
            print("killed after \(delay / 1000) ms: \(versions.filter { $0 == 1 }.count) v1 and \(versions.filter { $0 == 2 }.count) v2 headers")
            let f = vol.tdefs(["fsck", vol.backing] + key)
            XCTAssertEqual(f.status, 0, "fsck reads a half-converted volume as the engine does: \(f.summary)")
            try vol.mount()
            try verify(model)  // readable at any instant, whatever mix of v1 and v2 the kill left
            vol.unmount()
        }
        try reencryptOfflineAndCheck(model)
    }

    /// An older release's re-encryption of a format 2 volume, killed part way (the fixture
    /// Tests/Fixtures/InterruptedReencryptV2: directories it moved have version-1 IVs under the
    /// target epoch), resumed by this release: it finishes in format 3, every directory IV
    /// authenticated, contents and directory attributes unchanged.
    func testAnOlderReleasesInterruptedReencryptionResumes() throws {
        vol.unmount()
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/InterruptedReencryptV2").path
        XCTAssertEqual(runCommand("/bin/rm", ["-rf", vol.backing]).status, 0)
        // With its attributes: the directories' user.note, a file's pending re-key record.
        XCTAssertEqual(runCommand("/bin/tar", ["--xattrs", "--xattrs-include=user.*", "-C", vol.base, "-xf", fixtures + "/backing.tar"]).status, 0)
        XCTAssertEqual(rename(vol.base + "/b", vol.backing), 0)
        XCTAssertEqual(runCommand("/bin/cp", [fixtures + "/key", vol.keyFile]).status, 0)
        chmod(vol.keyFile, 0o600)
        try assertConfigFormat(2)
        XCTAssertEqual(Set(try directoryIVVersions()), [1])
        let r = vol.tdefs(["rotate", vol.backing] + key + ["--reencrypt"])
        XCTAssertEqual(r.status, 0, r.summary)
        try assertConfigFormat(3)
        let ivs = try directoryIVVersions()
        XCTAssertEqual(ivs.count, 7, "the root and d0 ... d5")
        XCTAssertEqual(Set(ivs), [2], "every directory IV is authenticated")
        XCTAssertEqual(Set(try layout().map(\.version)), [2])
        let f = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(f.status, 0, f.summary)
        try vol.mount()
        for d in 0..<6 {
            let dir = "d\(d)"
            for i in 0..<20 {
                let expected = (0..<(500 + 50 * i)).map { k in UInt8((7 * k + 13 * i + dir.utf8.count) % 251) }
                XCTAssertEqual(try readFile("\(m)/\(dir)/f\(i)"), expected, "\(dir)/f\(i)")
            }
            var buf = [UInt8](repeating: 0, count: 64)
            let n = tdefs_getxattr("\(m)/\(dir)", "user.note", &buf, buf.count)
            XCTAssertEqual(n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "errno \(errno)", "note of \(dir)")
        }
    }
}
