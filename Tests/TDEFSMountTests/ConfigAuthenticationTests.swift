import Foundation
import Glibc
import XCTest

/// tdefs.conf is authenticated as a whole (issue 19, item 2; Volume/VolumeConfigSeal.swift):
/// setting currentEpoch back, splicing back a retired epoch's record, planting a rotation record
/// or removing the mac is refused by mount and by every command that takes the key (exit 11),
/// and nothing is changed. A volume of an older release (no mac) still mounts, and its first
/// configuration change seals it.
final class ConfigAuthenticationTests: MountTestCase {
    var key: [String] { ["--key-file", vol.keyFile] }
    var conf: String { vol.backing + "/tdefs.conf" }

    func confObject() throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(conf))) as? [String: Any])
    }

    func writeConf(_ object: [String: Any]) throws {
        try writeFile(conf, Array(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted])), mode: 0o600)
    }

    /// Every command that takes the key refuses the edited tdefs.conf with exit 11 and leaves it
    /// byte for byte as it is.
    func assertEveryCommandRefuses(_ why: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try readFile(conf)
        let export = vol.base + "/exported.conf"
        let commands: [[String]] = [
            ["mount", vol.backing, m] + key,
            ["fsck", vol.backing] + key,
            ["rotate", vol.backing] + key,
            ["rotate", vol.backing] + key + ["--reencrypt"],
            ["retire", vol.backing] + key + ["--epoch", "1"],
            ["passwd", vol.backing] + key + ["--new-key-file", vol.base + "/newkey"],
            ["export-key", vol.backing] + key + ["--epoch", "1", "--to-key-file", vol.keyFile, "--output", export],
        ]
        vol.writeKeyFile(vol.base + "/newkey")
        for args in commands {
            let r = vol.tdefs(args)
            XCTAssertEqual(r.status, 11, "\(why): \(args[0]) \(args.dropFirst(2).first ?? ""): \(r.summary)", file: file, line: line)
            XCTAssertTrue(r.stderr.contains("authenticat") || r.stderr.contains("mac"), "\(why): \(args[0]): \(r.stderr)", file: file, line: line)
            XCTAssertFalse(isMounted(m), file: file, line: line)
        }
        XCTAssertEqual(try readFile(conf), before, "\(why): tdefs.conf unchanged", file: file, line: line)
        XCTAssertNil(lstatOrNil(export), "\(why): nothing exported", file: file, line: line)
    }

    func testANewVolumeIsSealed() throws {
        vol.unmount()
        let c = try confObject()
        XCTAssertEqual(c["generation"] as? Int, 1)
        XCTAssertEqual((c["mac"] as? String)?.count, 43, "32 bytes, base64url")
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing] + key).status, 0)
        XCTAssertGreaterThan(try XCTUnwrap(try confObject()["generation"] as? Int), 1, "each write counts")
    }

    func testCurrentEpochSetBackIsRefused() throws {
        vol.unmount()
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing] + key).status, 0)
        var c = try confObject()
        XCTAssertEqual(c["currentEpoch"] as? Int, 2)
        c["currentEpoch"] = 1
        try writeConf(c)
        try assertEveryCommandRefuses("currentEpoch set back")
    }

    func testRetiredEpochSplicedBackIsRefused() throws {
        vol.unmount()
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing] + key + ["--reencrypt"]).status, 0)
        let old = try XCTUnwrap((try confObject()["epochs"] as? [[String: Any]])?.first { $0["epoch"] as? Int == 1 })
        XCTAssertEqual(vol.tdefs(["retire", vol.backing] + key + ["--epoch", "1"]).status, 0)
        var c = try confObject()
        c["epochs"] = [old] + (c["epochs"] as? [[String: Any]] ?? [])
        try writeConf(c)
        try assertEveryCommandRefuses("retired epoch spliced back")
    }

    func testPlantedRotationRecordIsRefused() throws {
        vol.unmount()
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing] + key).status, 0)
        var c = try confObject()
        c["rotation"] = ["state": "reencrypting", "done": 0, "total": 0, "toEpoch": 1] as [String: Any]
        try writeConf(c)
        try assertEveryCommandRefuses("planted rotation record")
    }

    func testRemovedMacIsRefused() throws {
        vol.unmount()
        var c = try confObject()
        c.removeValue(forKey: "mac")
        c.removeValue(forKey: "generation")
        try writeConf(c)
        try assertEveryCommandRefuses("mac removed")
    }

    /// A volume made by a release before tdefs.conf was sealed (Tests/Fixtures/LegacyConfig).
    func testAVolumeOfAnOlderReleaseMountsAndIsSealedByItsFirstChange() throws {
        vol.unmount()
        try vol.replaceWithLegacyConfigFixture()
        XCTAssertNil(try confObject()["mac"], "the fixture has no mac")
        try vol.mount()
        XCTAssertEqual(String(decoding: try readFile("\(m)/hello.txt"), as: UTF8.self), "made by a release before tdefs.conf was authenticated\n")
        vol.unmount()
        XCTAssertEqual(vol.tdefs(["fsck", vol.backing] + key).status, 0)
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing] + key).status, 0)
        let c = try confObject()
        XCTAssertNotNil(c["mac"], "the first change sealed it")
        XCTAssertGreaterThan(try XCTUnwrap(c["generation"] as? Int), 0)
        try vol.mount()
        XCTAssertEqual(String(decoding: try readFile("\(m)/hello.txt"), as: UTF8.self), "made by a release before tdefs.conf was authenticated\n")
        vol.unmount()
        // Sealed now: removing the mac no longer passes for an older release's tdefs.conf.
        var stripped = c
        stripped.removeValue(forKey: "mac")
        stripped.removeValue(forKey: "generation")
        try writeConf(stripped)
        let r = vol.tdefs(["mount", vol.backing, m] + key)
        XCTAssertEqual(r.status, 11, r.summary)
    }

    /// A whole older tdefs.conf (sealed, so it authenticates) put back while the volume is mounted:
    /// the daemon remembers the newer generation, so rotate and retire refuse with exit 11 and
    /// change nothing. (Across a remount nothing remembers it: docs/threat-model.md.)
    func testOlderConfigPutBackWhileMountedIsRefused() throws {
        for _ in 0..<2 { XCTAssertEqual(vol.tdefs(["rotate", m] + key).status, 0, "online rotations to epochs 2 and 3") }
        let older = try readFile(conf)
        XCTAssertEqual(vol.tdefs(["rotate", m] + key).status, 0, "to epoch 4: a newer generation, which the daemon is told")
        let newer = try readFile(conf)
        try writeFile(conf, older, mode: 0o600)
        for args in [["rotate", m] + key, ["retire", m] + key + ["--epoch", "2"]] {
            let r = vol.tdefs(args)
            XCTAssertEqual(r.status, 11, "\(args[0]): \(r.summary)")
            XCTAssertTrue(r.stderr.contains("put back from an older copy"), r.stderr)
            XCTAssertEqual(try readFile(conf), older, "\(args[0]) changed nothing")
        }
        try writeFile(conf, newer, mode: 0o600)
        let r = vol.tdefs(["retire", m] + key + ["--epoch", "2"])
        XCTAssertEqual(r.status, 0, "with the newer tdefs.conf back, retire works: \(r.summary)")
    }
}
