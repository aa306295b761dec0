import XCTest
import Glibc

/// Volume profiles (docs/performance.md, "Volume profiles"): `init` makes a database volume, whose
/// mounts serve no extended attributes unless `-o xattr`; `--profile general` keeps user.*
/// attributes; a volume from before profiles keeps them too; `import` chooses by its source.
final class VolumeProfileTests: MountTestCase {
    func status(_ target: String) throws -> [String: Any] {
        let r = vol.tdefs(["status", target, "--json"])
        guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw HarnessError("status: \(r.summary)")
        }
        return o
    }

    func assertProfile(_ target: String, _ profile: String, attributes: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let s = try status(target)
        XCTAssertEqual(s["profile"] as? String, profile, file: file, line: line)
        XCTAssertEqual(s["extendedAttributes"] as? Bool, attributes, file: file, line: line)
    }

    func testInitMakesADatabaseVolumeThatServesNoAttributesUnlessAsked() throws {
        try assertProfile(vol.backing, "database", attributes: false)
        try assertProfile(m, "database", attributes: false)
        XCTAssertTrue(vol.tdefs(["status", vol.backing]).stdout.contains("database (no extended attributes)"))
        try writeFile("\(m)/f", "data")
        XCTAssertEqual(setXattr("\(m)/f", "user.a", Array("v".utf8)), EOPNOTSUPP)
        XCTAssertEqual(getXattr("\(m)/f", "user.a").errno, EOPNOTSUPP)
        XCTAssertEqual(errnoOfSize { llistxattr("\(m)/f", nil, 0) }, EOPNOTSUPP)
        XCTAssertEqual(try readFile("\(m)/f"), Array("data".utf8))

        vol.unmount()
        try vol.mount(options: ["xattr"])
        XCTAssertEqual(setXattr("\(m)/f", "user.a", Array("v".utf8)), 0, "-o xattr serves them on this mount")
        vol.unmount()
        try vol.mount()
        XCTAssertEqual(getXattr("\(m)/f", "user.a").errno, EOPNOTSUPP, "the next mount follows the profile again")
        vol.unmount()
        try vol.mount(options: ["xattr"])
        XCTAssertEqual(getXattr("\(m)/f", "user.a").value, Array("v".utf8), "and the attribute was kept")
        XCTAssertEqual(try readFile("\(m)/f"), Array("data".utf8))
    }

    func testAGeneralVolumeKeepsAttributes() throws {
        vol.unmount()
        XCTAssertEqual(runCommand("/bin/rm", ["-rf", vol.backing]).status, 0)
        try vol.initVolume(Self.generalProfile)
        try assertProfile(vol.backing, "general", attributes: true)
        try vol.mount()
        try writeFile("\(m)/f", "data")
        XCTAssertEqual(setXattr("\(m)/f", "user.a", Array("v".utf8)), 0)
        XCTAssertEqual(getXattr("\(m)/f", "user.a").value, Array("v".utf8))
        vol.unmount()
        // Rewriting tdefs.conf (a rotation) keeps the profile.
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing, "--key-file", vol.keyFile]).status, 0)
        try assertProfile(vol.backing, "general", attributes: true)
        let r = vol.tdefs(["init", vol.backing + "-other", "--key-file", vol.keyFile, "--profile", "fast"])
        XCTAssertEqual(r.status, 2, r.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: vol.backing + "-other/tdefs.conf"))
    }

    /// Formats 1 and 2 are for older releases: their tdefs.conf records no profile (general).
    func testAnOlderFormatRecordsNoProfile() throws {
        vol.unmount()
        XCTAssertEqual(runCommand("/bin/rm", ["-rf", vol.backing]).status, 0)
        let refused = vol.tdefs(["init", vol.backing, "--key-file", vol.keyFile, "--format-version", "2", "--profile", "database"])
        XCTAssertEqual(refused.status, 2, refused.summary)
        XCTAssertTrue(refused.stderr.contains("-o noxattr"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: vol.backing + "/tdefs.conf"))
        try vol.initVolume(["--format-version", "2"])
        XCTAssertFalse(try String(contentsOfFile: vol.backing + "/tdefs.conf", encoding: .utf8).contains("profile"))
        try assertProfile(vol.backing, "general", attributes: true)
        try vol.mount(options: ["noxattr"])
        XCTAssertEqual(setXattr("\(m)", "user.a", Array("v".utf8)), EOPNOTSUPP)
    }

    /// Tests/Fixtures/LegacyConfig: a tdefs.conf written before profiles, with no `profile`.
    func testAVolumeFromBeforeProfilesKeepsServingAttributes() throws {
        vol.unmount()
        try vol.replaceWithLegacyConfigFixture()
        try assertProfile(vol.backing, "general", attributes: true)
        try vol.mount()
        XCTAssertEqual(setXattr("\(m)/hello.txt", "user.a", Array("v".utf8)), 0)
        XCTAssertEqual(getXattr("\(m)/hello.txt", "user.a").value, Array("v".utf8))
        vol.unmount()
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing, "--key-file", vol.keyFile]).status, 0)
        let conf = try String(contentsOfFile: vol.backing + "/tdefs.conf", encoding: .utf8)
        XCTAssertFalse(conf.contains("profile"), "a rewrite records no profile it was not given")
        try assertProfile(vol.backing, "general", attributes: true)
    }

    /// import: a source without user.* attributes makes a database volume, one with them a general
    /// volume that keeps them; `--profile database` over such a source is refused, nothing written.
    func testImportChoosesTheProfileByItsSource() throws {
        vol.unmount()
        let plain = vol.base + "/import-source"
        XCTAssertEqual(mkdir(plain, 0o755), 0)
        try writeFile(plain + "/a", "a")
        let bare = vol.base + "/bare"
        var r = vol.tdefs(["import", plain, bare, "--key-file", vol.keyFile])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stdout.contains("profile database"), r.stdout)
        try assertProfile(bare, "database", attributes: false)

        XCTAssertEqual(setXattr(plain + "/a", "user.kept", Array("yes".utf8)), 0)
        let refused = vol.base + "/refused"
        r = vol.tdefs(["import", plain, refused, "--key-file", vol.keyFile, "--profile", "database"])
        XCTAssertEqual(r.status, 2, r.summary)
        XCTAssertTrue(r.stderr.contains("--profile general"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused + "/tdefs.conf"), "refused before a volume was made")

        XCTAssertEqual(runCommand("/bin/rm", ["-rf", vol.backing]).status, 0)
        r = vol.tdefs(["import", plain, vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(r.status, 0, r.summary)
        try assertProfile(vol.backing, "general", attributes: true)
        try vol.mount()
        XCTAssertEqual(getXattr("\(m)/a", "user.kept").value, Array("yes".utf8))
    }
}
