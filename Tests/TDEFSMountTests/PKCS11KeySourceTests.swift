import XCTest
import Foundation
import Glibc
import TDEFSCore
import TDEFSTestSupport

/// The PKCS#11 key source against a real SoftHSM2 token (SoftHSMToken): init makes a sensitive,
/// non-extractable AES key on the token and has it encrypt the volume's data key (AES-GCM); mount,
/// remount and fsck have it decrypt. A wrong PIN is exit 10, a URI that matches no token exit 16,
/// the key deleted from the token exit 17, a PIN in the URI exit 2: nothing mounted or changed.
final class PKCS11KeySourceTests: XCTestCase {
    var vol: TestVolume!
    var token: SoftHSMToken!

    override func setUpWithError() throws {
        vol = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-pkcs11")
        token = try SoftHSMToken()
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
        token = nil
    }

    var uri: String { "pkcs11:token=\(token.label);object=volkey" }

    func pkcs11(uri: String? = nil, pinFile: String? = nil) -> [String] {
        ["--key-pkcs11", uri ?? self.uri, "--pkcs11-module", SoftHSMToken.module, "--pkcs11-pin-file", pinFile ?? token.pinFile]
    }

    func tdefs(_ args: [String], env: [String: String] = [:]) -> CommandResult {
        vol.tdefs(args, env: token.environment.merging(env) { $1 })
    }

    func assertMountRefused(_ keyArgs: [String], status: Int32, _ file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let before = try snapshotTree(vol.backing, xattrs: true, mtimes: true)
        let r = tdefs(["mount", vol.backing, vol.mnt] + keyArgs)
        XCTAssertEqual(r.status, status, r.summary, file: file, line: line)
        XCTAssertFalse(isMounted(vol.mnt), file: file, line: line)
        vol.waitForDaemonExit()
        XCTAssertTrue(treeDifferences(before, try snapshotTree(vol.backing, xattrs: true, mtimes: true), labels: ("before", "after")).isEmpty,
                      "the backing directory changed", file: file, line: line)
        return r.stderr
    }

    func testATokenKeyWrapsTheVolumeAndEveryRefusalChangesNothing() throws {
        let audit = ["TDEFS_AUDIT_FILE": vol.base + "/audit.jsonl"]
        let r = tdefs(["init", vol.backing] + pkcs11(), env: audit)
        XCTAssertEqual(r.status, 0, r.summary)
        let conf = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(vol.backing + "/tdefs.conf"))) as? [String: Any])
        let source = try XCTUnwrap(conf["keySource"] as? [String: Any])
        XCTAssertEqual(source["kdf"] as? String, "pkcs11")
        let record = try XCTUnwrap(source["pkcs11"] as? [String: Any])
        XCTAssertEqual(record["uri"] as? String, uri)
        XCTAssertEqual(Base64URL.decode(try XCTUnwrap(record["wrappedSecret"] as? String))?.count, 48, "GCM of 32 bytes and its tag")

        var m = tdefs(["mount", vol.backing, vol.mnt] + pkcs11(), env: audit)
        XCTAssertEqual(m.status, 0, m.summary)
        try writeFile(vol.mnt + "/data", "wrapped by the token")
        vol.unmount()
        // The URI's pin-source instead of --pkcs11-pin-file.
        m = tdefs(["mount", vol.backing, vol.mnt, "--key-pkcs11", uri + "?pin-source=file:\(token.pinFile)",
                   "--pkcs11-module", SoftHSMToken.module])
        XCTAssertEqual(m.status, 0, m.summary)
        XCTAssertEqual(try readFile(vol.mnt + "/data"), Array("wrapped by the token".utf8))
        vol.unmount()
        XCTAssertEqual(tdefs(["fsck", vol.backing] + pkcs11()).status, 0)
        // Without --pkcs11-module: every module registered with p11-kit is searched (Debian's
        // softhsm2 registers its own in /usr/share/p11-kit/modules).
        XCTAssertEqual(tdefs(["fsck", vol.backing, "--key-pkcs11", uri, "--pkcs11-pin-file", token.pinFile]).status, 0)
        let noPin = tdefs(["fsck", vol.backing, "--key-pkcs11", uri, "--pkcs11-module", SoftHSMToken.module])
        XCTAssertEqual(noPin.status, 1, noPin.summary)
        XCTAssertTrue(noPin.stderr.contains("needs a PIN"), noPin.stderr)
        let events = try String(contentsOfFile: vol.base + "/audit.jsonl", encoding: .utf8)
        XCTAssertTrue(events.contains("\"keySource\":\"pkcs11\"") && events.contains("\"keyID\":\"\(uri)\""), events)

        let badPin = vol.base + "/bad.pin"
        try writeFile(badPin, "0000\n", mode: 0o600)
        XCTAssertTrue(try assertMountRefused(pkcs11(pinFile: badPin), status: 10).contains("C_Login"))
        XCTAssertTrue(try assertMountRefused(pkcs11(uri: "pkcs11:token=no-such-token;object=volkey"), status: 16).contains("no token matches"))
        _ = try assertMountRefused(["--key-pkcs11", uri + "?pin-value=\(token.pin)", "--pkcs11-module", SoftHSMToken.module], status: 2)
        _ = try assertMountRefused(["--key-file", vol.keyFile], status: 2)

        try token.deleteKey("volkey")
        XCTAssertTrue(try assertMountRefused(pkcs11(), status: 17).contains("no AES key"))
    }

    func testPasswdMovesAVolumeOntoTheTokenAndOff() throws {
        try vol.initVolume()
        try vol.mount()
        try writeFile(vol.mnt + "/kept", "moved twice")
        vol.unmount()
        var r = tdefs(["passwd", vol.backing, "--key-file", vol.keyFile, "--new-key-pkcs11", uri,
                       "--new-pkcs11-module", SoftHSMToken.module, "--new-pkcs11-pin-file", token.pinFile])
        XCTAssertEqual(r.status, 0, r.summary)
        _ = try assertMountRefused(["--key-file", vol.keyFile], status: 2)
        r = tdefs(["mount", vol.backing, vol.mnt] + pkcs11())
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try readFile(vol.mnt + "/kept"), Array("moved twice".utf8))
        let newKey = vol.base + "/new.key"
        vol.writeKeyFile(newKey)
        r = tdefs(["passwd", vol.mnt] + pkcs11() + ["--new-key-file", newKey])
        XCTAssertEqual(r.status, 0, r.summary)
        vol.unmount()
        _ = try assertMountRefused(pkcs11(), status: 2)
        try vol.mount(keyArgs: ["--key-file", newKey])
        XCTAssertEqual(try readFile(vol.mnt + "/kept"), Array("moved twice".utf8))
    }

    func testAnotherVolumesRecordDoesNotOpenUnderTheSameTokenKey() throws {
        // The AAD binds the wrapped data key to its volume: a record copied from another volume
        // under the same token key does not open (exit 10).
        XCTAssertEqual(tdefs(["init", vol.backing] + pkcs11()).status, 0)
        let other = TestVolume(bin: vol.bin, prefix: "tdefs-pkcs11-other")
        defer { other.destroy() }
        XCTAssertEqual(other.tdefs(["init", other.backing] + pkcs11(), env: token.environment).status, 0)
        var mine = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(vol.backing + "/tdefs.conf"))) as? [String: Any])
        let theirs = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(other.backing + "/tdefs.conf"))) as? [String: Any])
        var source = try XCTUnwrap(mine["keySource"] as? [String: Any])
        source["pkcs11"] = (theirs["keySource"] as? [String: Any])?["pkcs11"]
        mine["keySource"] = source
        try writeFile(vol.backing + "/tdefs.conf", Array(try JSONSerialization.data(withJSONObject: mine)), mode: 0o600)
        let r = tdefs(["mount", vol.backing, vol.mnt] + pkcs11())
        XCTAssertEqual(r.status, 10, r.summary)
        XCTAssertTrue(r.stderr.contains("does not open the volume's wrapped key"), "refused by the token's GCM (the AAD): \(r.stderr)")
        XCTAssertFalse(isMounted(vol.mnt))
    }
}
