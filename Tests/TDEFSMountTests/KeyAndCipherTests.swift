import XCTest
import Foundation
import Glibc

/// Wrong key: exit code 10, nothing mounted, nothing in the backing directory changed.
/// Cipher choice: AES-192-GCM volumes report and store cipher id 2; an unknown cipher is a usage error.
final class KeyAndCipherTests: XCTestCase {
    var vol: TestVolume!

    override func setUpWithError() throws {
        vol = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-keys")
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
    }

    /// Raw state of the backing directory: names, types, modes, sizes, bytes, targets, xattrs, mtimes.
    func backingSnapshot() throws -> [String: TreeEntry] { try snapshotTree(vol.backing, xattrs: true, mtimes: true) }

    func testWrongKeyFileIsRefusedWithoutChangingAnything() throws {
        try vol.initVolume()
        try vol.mount()
        try writeFile("\(vol.mnt)/data", "some data")
        vol.unmount()

        let before = try backingSnapshot()
        let otherKey = vol.base + "/other.key"
        vol.writeKeyFile(otherKey)
        let r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", otherKey])
        XCTAssertEqual(r.status, 10, "wrong key must exit 10: \(r.summary)")
        XCTAssertFalse(r.stderr.isEmpty, "a clear message on stderr")
        XCTAssertFalse(isMounted(vol.mnt), "nothing may be mounted")
        vol.waitForDaemonExit()
        let diffs = treeDifferences(before, try backingSnapshot(), labels: ("before", "after"))
        XCTAssertTrue(diffs.isEmpty, "the backing directory changed:\n" + diffs.joined(separator: "\n"))

        // The right key still works, and the data is intact.
        try vol.mount()
        XCTAssertEqual(try readFile("\(vol.mnt)/data"), Array("some data".utf8))
    }

    func testWrongPassphraseIsRefused() throws {
        let env = ["TDEFS_SCRYPT_N": "1024"]
        let pass = vol.base + "/pass", wrong = vol.base + "/wrong"
        try "correct horse battery staple\n".write(toFile: pass, atomically: true, encoding: .utf8)
        try "correct horse battery stapler\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        try vol.initVolume(keyArgs: ["--passphrase-file", pass], env: env)
        try vol.mount(keyArgs: ["--passphrase-file", pass], env: env)
        try writeFile("\(vol.mnt)/x", "x")
        vol.unmount()
        let before = try backingSnapshot()
        let r = vol.tdefs(["mount", vol.backing, vol.mnt, "--passphrase-file", wrong], env: env)
        XCTAssertEqual(r.status, 10, r.summary)
        XCTAssertFalse(isMounted(vol.mnt))
        vol.waitForDaemonExit()
        XCTAssertTrue(treeDifferences(before, try backingSnapshot(), labels: ("before", "after")).isEmpty)
        // A key file where a passphrase was used is a wrong key too.
        let r2 = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile], env: env)
        XCTAssertEqual(r2.status, 10, r2.summary)
        XCTAssertFalse(isMounted(vol.mnt))
    }

    func statusJSON(_ target: String) throws -> [String: Any] {
        let r = vol.tdefs(["status", target, "--json"])
        guard r.status == 0 else { throw HarnessError("status failed: \(r.summary)") }
        guard let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw HarnessError("status --json did not print one object: \(r.stdout)")
        }
        return obj
    }

    /// The backing file of the one regular file in the volume's root.
    func onlyBackingFile() throws -> String {
        let names = try listDir(vol.backing).filter { !$0.contains(".") }
        let files = names.filter { lstatOrNil(vol.backing + "/" + $0).map { $0.st_mode & S_IFMT == S_IFREG } ?? false }
        guard files.count == 1 else { throw HarnessError("expected one backing file, found \(names)") }
        return vol.backing + "/" + files[0]
    }

    func checkCipher(initArgs: [String], name: String, id: UInt8) throws {
        try vol.initVolume(initArgs)
        let st = try statusJSON(vol.backing)
        XCTAssertEqual(st["cipher"] as? String, name)
        XCTAssertEqual(st["formatVersion"] as? Int, 3, "init makes format version 3 volumes (issue 19)")
        XCTAssertNotNil(st["currentEpoch"] as? Int)
        XCTAssertNotNil(st["epochs"] as? [Any])
        XCTAssertTrue(st.keys.contains("rotation"))
        XCTAssertEqual(st["mounted"] as? Bool, false)

        try vol.mount()
        XCTAssertEqual(try statusJSON(vol.mnt)["mounted"] as? Bool, true)
        XCTAssertEqual(try statusJSON(vol.mnt)["cipher"] as? String, name)
        var rng = SeededRNG(seed: 7)
        let data = rng.bytes(10_000)
        try writeFile("\(vol.mnt)/file", data)
        XCTAssertEqual(try readFile("\(vol.mnt)/file"), data)
        vol.unmount()

        let header = try readFile(try onlyBackingFile())
        XCTAssertGreaterThanOrEqual(header.count, 96)
        XCTAssertEqual(Array(header.prefix(4)), Array("TDEF".utf8), "header magic")
        XCTAssertEqual(header[6], id, "header cipher id")

        try vol.mount()
        XCTAssertEqual(try readFile("\(vol.mnt)/file"), data, "round trip across a remount")
    }

    func testAES192Volume() throws {
        try checkCipher(initArgs: ["--cipher", "aes-192-gcm"], name: "AES-192-GCM", id: 2)
    }

    func testAES256IsTheDefault() throws {
        try checkCipher(initArgs: [], name: "AES-256-GCM", id: 1)
    }

    func testBogusCipherIsAUsageError() throws {
        let r = vol.tdefs(["init", vol.backing, "--key-file", vol.keyFile, "--cipher", "bogus"])
        XCTAssertEqual(r.status, 2, r.summary)
        XCTAssertNil(lstatOrNil(vol.backing + "/tdefs.conf"), "no volume may be created")
    }

    func testNotAVolume() throws {
        let r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile])
        XCTAssertEqual(r.status, 12, "an empty directory is not a volume: \(r.summary)")
        XCTAssertFalse(isMounted(vol.mnt))
    }
}
