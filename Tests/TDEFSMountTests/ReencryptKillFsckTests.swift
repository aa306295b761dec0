import Foundation
import Glibc
import XCTest

/// issue 18's kill test: `rotate BACKING --reencrypt` SIGKILLed at random moments leaves files
/// with a pending re-key and directories with a pending IV (tdefs.diriv.next). fsck reads them by
/// the engine's rules (Format/ExtentCodec.swift, Format/RekeyRecord.swift), so it exits 0 after
/// every kill; every file reads back byte for byte; the rotation then completes.
final class ReencryptKillFsckTests: MountTestCase {
    // These tests use user.* extended attributes on the mount.
    override var initOptions: [String] { Self.generalProfile }

    var key: [String] { ["--key-file", vol.keyFile] }

    /// Files of up to 96 KiB in 12 directories, some with long names, attributes and symlinks.
    func populate(_ rng: inout SeededRNG, files: Int) throws -> [String: [UInt8]] {
        var model: [String: [UInt8]] = [:]
        for d in 0..<12 {
            XCTAssertEqual(mkdir("\(m)/d\(d)", 0o755), 0)
            XCTAssertEqual(setXattr("\(m)/d\(d)", "user.dir-note", Array("dir \(d)".utf8)), 0)
            XCTAssertEqual(symlink("../d\((d + 1) % 12)/target-\(d)", "\(m)/d\(d)/link"), 0)
        }
        for i in 0..<files {
            let dir = "d\(i % 12)"
            let name = i % 9 == 4 ? String(repeating: "long", count: 45) + "\(i)" : "f\(i)"
            let data = rng.bytes(Int(rng.next() % 96_000))
            try writeFile("\(m)/\(dir)/\(name)", data)
            model["\(dir)/\(name)"] = data
            if i % 10 == 0 { XCTAssertEqual(setXattr("\(m)/\(dir)/\(name)", "user.file-note", Array("file \(i)".utf8)), 0) }
        }
        return model
    }

    func verify(_ model: [String: [UInt8]], file: StaticString = #filePath, line: UInt = #line) throws {
        for (name, data) in model { XCTAssertEqual(try readFile("\(m)/\(name)"), data, name, file: file, line: line) }
        for d in 0..<12 {
            XCTAssertEqual(readLink("\(m)/d\(d)/link"), "../d\((d + 1) % 12)/target-\(d)", file: file, line: line)
            XCTAssertEqual(getXattr("\(m)/d\(d)", "user.dir-note").value, Array("dir \(d)".utf8), file: file, line: line)
        }
        for i in stride(from: 0, to: model.count, by: 10) {
            let name = i % 9 == 4 ? String(repeating: "long", count: 45) + "\(i)" : "f\(i)"
            XCTAssertEqual(getXattr("\(m)/d\(i % 12)/\(name)", "user.file-note").value, Array("file \(i)".utf8), file: file, line: line)
        }
    }

    /// Pending re-key records and IVs left in the backing directory (for the log: what a kill hit).
    func pendingCounts() -> (records: Int, ivs: Int) {
        var records = 0, ivs = 0
        let e = FileManager.default.enumerator(atPath: vol.backing)!
        while let rel = e.nextObject() as? String {
            let p = vol.backing + "/" + rel
            if (rel as NSString).lastPathComponent == "tdefs.diriv.next" { ivs += 1; continue }
            if getXattr(p, "user.tdefs.rekey").errno == 0 { records += 1 }
        }
        return (records, ivs)
    }

    func testFsckIsCleanAfterEveryKillOfReencrypt() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["TDEFS_ROTATION_SEED"] ?? "") ?? UInt64(time(nil))
        print("reencrypt kill seed: \(seed) (TDEFS_ROTATION_SEED replays)")
        var rng = SeededRNG(seed: seed)
        let model = try populate(&rng, files: 600)
        vol.unmount()
        var sawPending = false
        for kill in 0..<6 {
            let delay = 100_000 + UInt32(rng.next() % 800_000)
            _ = runAndKill(["rotate", vol.backing] + key + ["--reencrypt"], after: delay)
            let pending = pendingCounts()
            if pending.records + pending.ivs > 0 { sawPending = true }
            print("kill \(kill) after \(delay / 1000) ms: \(pending.records) pending re-key record(s), \(pending.ivs) pending IV(s)")
            let f = vol.tdefs(["fsck", vol.backing] + key)
            XCTAssertEqual(f.status, 0, "kill \(kill) after \(delay / 1000) ms: \(f.summary)")
            try vol.mount()
            try verify(model)
            vol.unmount()
        }
        print(sawPending ? "some kill left a pending re-key or IV" : "no kill left a pending re-key or IV (seed \(seed))")
        let r = vol.tdefs(["rotate", vol.backing] + key + ["--reencrypt"])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(pendingCounts().records + pendingCounts().ivs, 0, "nothing left pending")
        let f = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(f.status, 0, f.summary)
        try vol.mount()
        try verify(model)
    }
}
