import XCTest
import Foundation
import Glibc
import TDEFSCore
import TDEFSTestSupport

/// Key slots (passwd --add-slot / --remove-slot, as LUKS2 has them): a volume opened by more than
/// one key source at once, each slot listed by status; plain passwd replaces the slot its KEY
/// opened; the last slot is never removed; slot 0's removal promotes the lowest other slot. A
/// KMIP-held key with an offline recovery key: the volume still opens after the server revokes.
final class KeySlotTests: XCTestCase {
    var vol: TestVolume!
    let env = ["TDEFS_SCRYPT_N": "1024"]

    override func setUpWithError() throws {
        vol = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-slots")
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
    }

    func status() throws -> [String: Any] {
        let r = vol.tdefs(["status", vol.backing, "--json"])
        XCTAssertEqual(r.status, 0, r.summary)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    func slots() throws -> [Int] { try XCTUnwrap(try status()["keySlots"] as? [[String: Any]]).compactMap { $0["slot"] as? Int } }

    func opens(_ keyArgs: [String]) -> Int32 { vol.tdefs(["fsck", vol.backing] + keyArgs, env: env).status }

    func testSlotsAreAddedReplacedAndRemovedAndTheLastOneStays() throws {
        let pass = vol.base + "/pass", key2 = vol.base + "/key2"
        try writeFile(pass, "recovery passphrase\n", mode: 0o600)
        vol.writeKeyFile(key2)
        let keyArgs = ["--key-file", vol.keyFile], passArgs = ["--passphrase-file", pass], key2Args = ["--key-file", key2]
        try vol.initVolume()
        try vol.mount()
        try writeFile(vol.mnt + "/data", "one volume, several keys")
        XCTAssertEqual(try slots(), [0])

        // Add a passphrase slot while mounted: both open the volume.
        var r = vol.tdefs(["passwd", vol.mnt] + keyArgs + ["--add-slot", "--new-passphrase-file", pass], env: env)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try slots(), [0, 1])
        XCTAssertEqual(try status()["formatVersion"] as? Int, FormatVersions.keySlots)
        vol.unmount()
        XCTAssertEqual(opens(keyArgs), 0)
        XCTAssertEqual(opens(passArgs), 0)
        // A wrong passphrase: the passphrase slot reads it and does not open, the key slot cannot
        // read it at all: a wrong key (exit 10), audited as such.
        let wrongPass = vol.base + "/wrong-pass"
        try writeFile(wrongPass, "not the recovery passphrase\n", mode: 0o600)
        XCTAssertEqual(opens(["--passphrase-file", wrongPass]), 10)
        try vol.mount(keyArgs: passArgs, env: env)
        XCTAssertEqual(try readFile(vol.mnt + "/data"), Array("one volume, several keys".utf8))
        vol.unmount()

        // Plain passwd with the passphrase replaces slot 1 only.
        r = vol.tdefs(["passwd", vol.backing] + passArgs + ["--new-key-file", key2], env: env)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stdout.contains("key slot 1"), r.stdout)
        // The passphrase opens nothing now (both slots are key slots: it is not even a key, exit 1).
        XCTAssertNotEqual(opens(passArgs), 0, "the replaced passphrase no longer opens it")
        XCTAssertEqual(opens(key2Args), 0)
        XCTAssertEqual(opens(keyArgs), 0, "slot 0 is untouched")

        // Remove slot 0 with the other slot's key: the first key no longer opens it.
        r = vol.tdefs(["passwd", vol.backing] + key2Args + ["--remove-slot", "0"], env: env)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try slots(), [0])
        XCTAssertEqual(opens(keyArgs), 10)
        XCTAssertEqual(opens(key2Args), 0)
        // The last slot stays; a slot that is not there is an error; nothing changes.
        let before = try readFile(vol.backing + "/tdefs.conf")
        r = vol.tdefs(["passwd", vol.backing] + key2Args + ["--remove-slot", "0"], env: env)
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stderr.contains("last one"), r.stderr)
        XCTAssertEqual(vol.tdefs(["passwd", vol.backing] + key2Args + ["--remove-slot", "7"], env: env).status, 1)
        XCTAssertEqual(vol.tdefs(["passwd", vol.backing] + key2Args + ["--remove-slot", "0", "--new-key-file", key2], env: env).status, 2)
        XCTAssertEqual(try readFile(vol.backing + "/tdefs.conf"), before)
        try vol.mount(keyArgs: key2Args)
        XCTAssertEqual(try readFile(vol.mnt + "/data"), Array("one volume, several keys".utf8))
    }

    func testAnEditedSlotDoesNotAuthenticate() throws {
        let pass = vol.base + "/pass"
        try writeFile(pass, "second\n", mode: 0o600)
        try vol.initVolume()
        XCTAssertEqual(vol.tdefs(["passwd", vol.backing, "--key-file", vol.keyFile, "--add-slot", "--new-passphrase-file", pass], env: env).status, 0)
        var conf = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(vol.backing + "/tdefs.conf"))) as? [String: Any])
        var slots = try XCTUnwrap(conf["keySlots"] as? [[String: Any]])
        slots[0]["slot"] = 9
        conf["keySlots"] = slots
        try writeFile(vol.backing + "/tdefs.conf", Array(try JSONSerialization.data(withJSONObject: conf)), mode: 0o600)
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile], env: env)
        XCTAssertEqual(r.status, 11, r.summary)
        XCTAssertTrue(r.stderr.contains("does not authenticate"), r.stderr)
    }

    func testARecoveryKeyOpensTheVolumeAfterTheKeyServerRevokedItsKey() throws {
        let server = try KMIPTestServer()
        defer { server.stop() }
        let kmip = ["--key-kmip", "127.0.0.1:\(server.port)", "--kmip-client-cert", server.clientCertificate,
                    "--kmip-client-key", server.clientKey, "--kmip-ca", server.caCertificate]
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + kmip).status, 0)
        let recovery = vol.base + "/recovery.key"
        vol.writeKeyFile(recovery)
        let r = vol.tdefs(["passwd", vol.backing] + kmip + ["--add-slot", "--new-key-file", recovery])
        XCTAssertEqual(r.status, 0, r.summary)
        let listed = try XCTUnwrap(try status()["keySlots"] as? [[String: Any]])
        XCTAssertEqual(listed.compactMap { $0["keyDerivation"] as? String }, ["kmip", "hkdf-sha256"])
        try vol.mount(keyArgs: kmip)
        try writeFile(vol.mnt + "/db", "survives the revocation")
        vol.unmount()

        let conf = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(vol.backing + "/tdefs.conf"))) as? [String: Any])
        let keyID = try XCTUnwrap(((conf["keySource"] as? [String: Any])?["kmip"] as? [String: Any])?["keyID"] as? String)
        try KMIPKeyServer(endpoint: "127.0.0.1:\(server.port)", credentials: .init(clientCertificate: server.clientCertificate,
            clientKey: server.clientKey, caCertificates: server.caCertificate)).revoke(keyID)
        XCTAssertEqual(vol.tdefs(["mount", vol.backing, vol.mnt] + kmip).status, 17, "the KMIP slot is refused")
        try vol.mount(keyArgs: ["--key-file", recovery])
        XCTAssertEqual(try readFile(vol.mnt + "/db"), Array("survives the revocation".utf8))
    }
}
