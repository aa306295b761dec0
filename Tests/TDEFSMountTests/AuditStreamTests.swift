import XCTest
import Foundation
import Glibc
import TDEFSCore

/// The audit stream (docs/audit.md) through a real journald (a namespace of the test's own) and the
/// audit file: every key command records its event, with its MESSAGE_ID, the volume, epoch, key
/// source, outcome, uid and host, in both places and as the same JSON object; no key or passphrase
/// is in either; an audit file that cannot be written refuses the key operation before it changes
/// anything.
final class AuditStreamTests: XCTestCase {
    var vol: TestVolume!
    var journal: JournalNamespace?
    var auditFile: String { vol.base + "/audit.jsonl" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        vol = TestVolume(bin: try Harness.requireMountable(needsRoot: true), prefix: "tdefs-audit")
        journal = try JournalNamespace(tag: "audit", directory: vol.base)
    }

    override func tearDown() {
        vol?.destroy()
        journal?.stop()
        journal = nil
        vol = nil
        super.tearDown()
    }

    var env: [String: String] {
        (journal?.environment ?? [:]).merging(["TDEFS_AUDIT_FILE": auditFile, "TDEFS_SCRYPT_N": "1024"]) { $1 }
    }

    func fileEvents() throws -> [[String: Any]] {
        try String(contentsOfFile: auditFile, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "not one JSON object: \($0)")
        }
    }

    func testEveryKeyCommandRecordsItsEventInTheJournalAndTheAuditFile() throws {
        let pass = vol.base + "/pass", wrong = vol.base + "/wrong.key", exported = vol.base + "/export.conf"
        try writeFile(pass, "audit me not\n", mode: 0o600)
        vol.writeKeyFile(wrong)
        XCTAssertEqual(vol.tdefs(["init", vol.backing, "--key-file", vol.keyFile], env: env).status, 0)
        try vol.mount(env: env)
        XCTAssertEqual(vol.tdefs(["rotate", vol.mnt, "--key-file", wrong], env: env).status, 10)
        XCTAssertEqual(vol.tdefs(["rotate", vol.mnt, "--key-file", vol.keyFile, "--reencrypt"], env: env).status, 0)
        vol.unmount()
        XCTAssertEqual(vol.tdefs(["passwd", vol.backing, "--key-file", vol.keyFile, "--new-passphrase-file", pass], env: env).status, 0)
        XCTAssertEqual(vol.tdefs(["export-key", vol.backing, "--passphrase-file", pass, "--epoch", "1", "--to-key-file", vol.keyFile,
                                  "--output", exported], env: env).status, 0)
        XCTAssertEqual(vol.tdefs(["retire", vol.backing, "--passphrase-file", pass, "--epoch", "1"], env: env).status, 0)

        let expected: [AuditEvent.Kind] = [.initialized, .unlock, .unlockFailed, .rotateStarted, .rotateDone, .passwd, .exportKey, .retire]
        let inFile = try fileEvents()
        XCTAssertEqual(inFile.compactMap { $0["event"] as? String }.filter { $0 != "rotate-progress" },
                       expected.map(\.rawValue), "the audit file, in order")
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let hostName = String(cString: host)
        for e in inFile {
            let kind = try XCTUnwrap(AuditEvent.Kind(rawValue: try XCTUnwrap(e["event"] as? String)))
            XCTAssertEqual(e["outcome"] as? String, kind == .unlockFailed ? "failure" : "success", "\(e)")
            XCTAssertNotNil(e["time"] as? String)
            XCTAssertEqual((e["volume"] as? String)?.count, 22, "the volume ID")
            XCTAssertEqual(e["backing"] as? String, vol.backing)
            XCTAssertEqual(e["uid"] as? Int, Int(getuid()))
            XCTAssertEqual(e["host"] as? String, hostName)
            XCTAssertNotNil(e["epoch"] as? Int, "\(e)")
            XCTAssertTrue(e.keys.contains("keyID"), "keyID is there (null without a key manager)")
        }
        XCTAssertEqual(inFile.first { $0["event"] as? String == "passwd" }?["keySource"] as? String, "scrypt", "the new source")
        XCTAssertEqual(inFile.first { $0["event"] as? String == "init" }?["keySource"] as? String, "hkdf-sha256")

        // The journal has the same events, each with its kind's MESSAGE_ID and fields of its own.
        let journal = try XCTUnwrap(self.journal)
        let entries = try journal.entries("SYSLOG_IDENTIFIER=tdefs").filter { $0["TDEFS_AUDIT_EVENT"] != nil }
        XCTAssertEqual(entries.compactMap { $0["TDEFS_AUDIT_EVENT"] as? String }.filter { $0 != "rotate-progress" },
                       expected.map(\.rawValue), "the journal, in order")
        for entry in entries {
            let kind = try XCTUnwrap(AuditEvent.Kind(rawValue: try XCTUnwrap(entry["TDEFS_AUDIT_EVENT"] as? String)))
            XCTAssertEqual(entry["MESSAGE_ID"] as? String, kind.messageID)
            XCTAssertEqual(entry["TDEFS_VOLUME"] as? String, vol.backing)
            XCTAssertEqual(entry["TDEFS_UID"] as? String, String(getuid()))
            XCTAssertEqual(entry["TDEFS_HOST"] as? String, hostName)
            XCTAssertEqual(entry["_TRANSPORT"] as? String, "journal")
            let line = try XCTUnwrap(entry["TDEFS_AUDIT"] as? String)
            XCTAssertTrue(inFile.contains { ($0["event"] as? String) == kind.rawValue && ($0["time"] as? String) != nil },
                          "\(line) is in the file too")
        }
        // Filtering by MESSAGE_ID finds exactly the failed unlock.
        XCTAssertEqual(try journal.entries("MESSAGE_ID=\(AuditEvent.Kind.unlockFailed.messageID)").count, 1)

        // No key material, passphrase or exported key in either place, in any usual encoding.
        let text = try String(contentsOfFile: auditFile, encoding: .utf8) + (try journal.dump())
        for secretFile in [vol.keyFile, wrong] {
            let bytes = try readFile(secretFile)
            for needle in [bytes.map { String(format: "%02x", $0) }.joined(), Data(bytes).base64EncodedString(),
                           Base64URL.encode(bytes)] {
                XCTAssertFalse(text.contains(needle), "the audit stream holds the bytes of \(secretFile)")
            }
        }
        XCTAssertFalse(text.contains("audit me not"), "the audit stream holds the passphrase")
    }

    func testAnAuditFileThatCannotBeWrittenRefusesTheKeyOperation() throws {
        var broken = env
        broken["TDEFS_AUDIT_FILE"] = vol.base + "/no-such-dir/audit.jsonl"
        var r = vol.tdefs(["init", vol.backing, "--key-file", vol.keyFile], env: broken)
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stderr.contains("audit file") && r.stderr.contains("no-such-dir"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: vol.backing), [], "init wrote nothing")

        XCTAssertEqual(vol.tdefs(["init", vol.backing, "--key-file", vol.keyFile], env: env).status, 0)
        let conf = try readFile(vol.backing + "/tdefs.conf")
        r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile], env: broken)
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertFalse(isMounted(vol.mnt), "no mount without its audit event")
        vol.waitForDaemonExit()
        // An audit file that is a directory: rotate and passwd change nothing.
        broken["TDEFS_AUDIT_FILE"] = vol.base
        r = vol.tdefs(["rotate", vol.backing, "--key-file", vol.keyFile], env: broken)
        XCTAssertEqual(r.status, 1, r.summary)
        r = vol.tdefs(["passwd", vol.backing, "--key-file", vol.keyFile, "--new-key-file", vol.keyFile], env: broken)
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertEqual(try readFile(vol.backing + "/tdefs.conf"), conf, "tdefs.conf unchanged")
        try vol.mount(env: env)
    }
}
