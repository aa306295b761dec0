import XCTest
import Foundation
import Glibc

/// `tdefs shred`: refused without its confirmation flag, on a mounted volume and with a wrong key;
/// then the wrapped keys are gone from tdefs.conf (overwritten, not only renamed away), every later
/// command says the volume was shredded (exit 11), and the shred is in the audit stream.
final class ShredTests: XCTestCase {
    var vol: TestVolume!

    override func setUpWithError() throws {
        vol = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-shred")
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
    }

    func testShredDestroysTheKeysAndEveryLaterCommandSaysSo() throws {
        let audit = ["TDEFS_AUDIT_FILE": vol.base + "/audit.jsonl"]
        try vol.initVolume(env: audit)
        try vol.mount()
        try writeFile(vol.mnt + "/secret", "to be destroyed")
        let conf = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(vol.backing + "/tdefs.conf"))) as? [String: Any])
        let wrapped = try XCTUnwrap((conf["epochs"] as? [[String: Any]])?.first?["wrappedKey"] as? String)
        let before = try readFile(vol.backing + "/tdefs.conf")

        var r = vol.tdefs(["shred", vol.backing, "--key-file", vol.keyFile], env: audit)
        XCTAssertEqual(r.status, 2, r.summary)
        XCTAssertTrue(r.stderr.contains("--confirm-destroy-all-data"), r.stderr)
        r = vol.tdefs(["shred", vol.backing, "--key-file", vol.keyFile, "--confirm-destroy-all-data"], env: audit)
        XCTAssertEqual(r.status, 15, "a mounted volume: \(r.summary)")
        vol.unmount()
        let wrong = vol.base + "/wrong.key"
        vol.writeKeyFile(wrong)
        r = vol.tdefs(["shred", vol.backing, "--key-file", wrong, "--confirm-destroy-all-data"], env: audit)
        XCTAssertEqual(r.status, 10, r.summary)
        XCTAssertEqual(try readFile(vol.backing + "/tdefs.conf"), before, "nothing changed by the refusals")

        // A second name for tdefs.conf's inode, outside the volume: an overwrite in place reaches
        // it, a rename alone would not.
        let link = vol.base + "/conf-link"
        XCTAssertEqual(Glibc.link(vol.backing + "/tdefs.conf", link), 0)
        try writeFile(vol.backing + "/tdefs.tmp.0123456789abcdef", before, mode: 0o600)  // an interrupted write's copy
        r = vol.tdefs(["shred", vol.backing, "--key-file", vol.keyFile, "--confirm-destroy-all-data"], env: audit)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertFalse(String(decoding: try readFile(link), as: UTF8.self).contains(wrapped), "the same blocks were overwritten")
        XCTAssertEqual(access(vol.backing + "/tdefs.tmp.0123456789abcdef", F_OK), -1, "the leftover copy is gone")
        XCTAssertTrue(r.stdout.contains("shredded"), r.stdout)
        let after = String(decoding: try readFile(vol.backing + "/tdefs.conf"), as: UTF8.self)
        XCTAssertFalse(after.contains(wrapped), "the wrapped key is gone")
        XCTAssertTrue(after.contains("\"shredded\""), after)

        for args in [["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile], ["status", vol.backing],
                     ["fsck", vol.backing, "--key-file", vol.keyFile]] {
            let later = vol.tdefs(args)
            XCTAssertEqual(later.status, 11, "\(args[0]): \(later.summary)")
            XCTAssertTrue(later.stderr.contains("was shredded"), later.stderr)
        }
        XCTAssertFalse(isMounted(vol.mnt))
        let events = try String(contentsOfFile: vol.base + "/audit.jsonl", encoding: .utf8)
        XCTAssertTrue(events.contains("\"event\":\"shred\""), events)
    }
}
