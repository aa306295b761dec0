import XCTest
import Foundation
import Glibc
import TDEFSCore
import TDEFSTestSupport

/// The KMIP key source against a real PyKMIP server (KMIPTestServer, mutual TLS on 127.0.0.1):
/// init makes a key on the server and wraps the volume's data key with it; mount, remount, fsck and
/// online rotation ask the server to decrypt; passwd moves a volume from a key file to the server
/// and back. A server that is down and a client certificate of another CA give exit 16, a key
/// revoked or destroyed on the server exit 17, each with a clear message, nothing mounted and
/// nothing changed in the backing directory. A mounted volume keeps working without its server.
final class KMIPKeySourceTests: XCTestCase {
    nonisolated(unsafe) static var server: KMIPTestServer?  // one server for the class (XCTest runs its tests one by one)
    var vol: TestVolume!

    override class func tearDown() {
        server?.stop()
        server = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        vol = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-kmip")
        if Self.server == nil { Self.server = try KMIPTestServer() }
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
    }

    var server: KMIPTestServer { Self.server! }

    /// The KEY options of the test server; `rogue` presents a client certificate of another CA.
    func kmip(port: UInt16? = nil, rogue: Bool = false, keyID: String? = nil) -> [String] {
        ["--key-kmip", "127.0.0.1:\(port ?? server.port)",
         "--kmip-client-cert", rogue ? server.rogueCertificate : server.clientCertificate,
         "--kmip-client-key", rogue ? server.rogueKey : server.clientKey,
         "--kmip-ca", server.caCertificate] + (keyID.map { ["--kmip-key-id", $0] } ?? [])
    }

    /// The KEY options of a server a test started for itself.
    func kmip(of own: KMIPTestServer) -> [String] {
        ["--key-kmip", "127.0.0.1:\(own.port)", "--kmip-client-cert", own.clientCertificate,
         "--kmip-client-key", own.clientKey, "--kmip-ca", own.caCertificate]
    }

    /// The server, as tdefs' own client reaches it (to revoke or destroy a key behind tdefs' back).
    func admin() throws -> KMIPKeyServer {
        try KMIPKeyServer(endpoint: "127.0.0.1:\(server.port)", credentials: .init(
            clientCertificate: server.clientCertificate, clientKey: server.clientKey, caCertificates: server.caCertificate))
    }

    func config() throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(vol.backing + "/tdefs.conf"))) as? [String: Any])
    }

    func kmipRecord() throws -> [String: Any] {
        let source = try XCTUnwrap(try config()["keySource"] as? [String: Any])
        XCTAssertEqual(source["kdf"] as? String, "kmip")
        return try XCTUnwrap(source["kmip"] as? [String: Any], "\(source)")
    }

    func status() throws -> [String: Any] {
        let r = vol.tdefs(["status", vol.backing, "--json"])
        XCTAssertEqual(r.status, 0, r.summary)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.summary)
    }

    func backingSnapshot() throws -> [String: TreeEntry] { try snapshotTree(vol.backing, xattrs: true, mtimes: true) }

    /// A mount that must fail with `status`, mount nothing and change nothing; its message.
    @discardableResult
    func assertMountRefused(_ keyArgs: [String], status: Int32, _ file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let before = try backingSnapshot()
        let r = vol.tdefs(["mount", vol.backing, vol.mnt] + keyArgs)
        XCTAssertEqual(r.status, status, r.summary, file: file, line: line)
        XCTAssertFalse(isMounted(vol.mnt), "nothing may be mounted", file: file, line: line)
        vol.waitForDaemonExit()
        let diffs = treeDifferences(before, try backingSnapshot(), labels: ("before", "after"))
        XCTAssertTrue(diffs.isEmpty, "the backing directory changed:\n" + diffs.joined(separator: "\n"), file: file, line: line)
        return r.stderr
    }

    func testInitMakesAServerKeyAndMountRemountAndFsckAskTheServer() throws {
        let audit = ["TDEFS_AUDIT_FILE": vol.base + "/audit.jsonl"]
        let r = vol.tdefs(["init", vol.backing] + kmip(), env: audit)
        XCTAssertEqual(r.status, 0, r.summary)
        let record = try kmipRecord()
        let keyID = try XCTUnwrap(record["keyID"] as? String)
        XCTAssertEqual(record["mode"] as? String, "encrypt")
        XCTAssertEqual(Base64URL.decode(try XCTUnwrap(record["wrappedSecret"] as? String))?.count, 48, "the server's CBC of 32 bytes")
        XCTAssertTrue(r.stdout.contains("KMIP key \(keyID)"), r.stdout)
        let keyManager = try XCTUnwrap(try status()["keyManager"] as? [String: Any])
        XCTAssertEqual(keyManager["keyID"] as? String, keyID)
        XCTAssertEqual(try status()["keyDerivation"] as? String, "kmip")

        try vol.mount(keyArgs: kmip(), env: audit)
        try writeFile("\(vol.mnt)/data", "held by the key server")
        // The audit events name the key source and the server's key.
        let events = try String(contentsOfFile: vol.base + "/audit.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(events.compactMap { $0["event"] as? String }, ["init", "unlock"])
        for e in events {
            XCTAssertEqual(e["keySource"] as? String, "kmip")
            XCTAssertEqual(e["keyID"] as? String, keyID)
        }
        vol.unmount()
        try vol.mount(keyArgs: kmip(keyID: keyID))
        XCTAssertEqual(try readFile("\(vol.mnt)/data"), Array("held by the key server".utf8))
        vol.unmount()
        let fsck = vol.tdefs(["fsck", vol.backing] + kmip())
        XCTAssertEqual(fsck.status, 0, fsck.summary)

        // The volume's key is the server's: a key file, or another key's ID, is a usage error.
        let msg = try assertMountRefused(["--key-file", vol.keyFile], status: 2)
        XCTAssertTrue(msg.contains("held by a KMIP server") && msg.contains(keyID), msg)
        try assertMountRefused(kmip(keyID: keyID + "0"), status: 2)
    }

    func testPasswdMovesAVolumeFromAKeyFileToTheServerAndBack() throws {
        try vol.initVolume()
        try vol.mount()
        try writeFile("\(vol.mnt)/kept", "through two key sources")
        vol.unmount()

        let toServer = vol.tdefs(["passwd", vol.backing, "--key-file", vol.keyFile, "--new-key-kmip", "127.0.0.1:\(server.port)",
                                  "--kmip-client-cert", server.clientCertificate, "--kmip-client-key", server.clientKey,
                                  "--kmip-ca", server.caCertificate])
        XCTAssertEqual(toServer.status, 0, toServer.summary)
        XCTAssertNotNil(try kmipRecord()["keyID"] as? String)
        try assertMountRefused(["--key-file", vol.keyFile], status: 2)
        try vol.mount(keyArgs: kmip())
        XCTAssertEqual(try readFile("\(vol.mnt)/kept"), Array("through two key sources".utf8))

        // From one server key to a new one: the old key ID no longer names the volume's key.
        let firstKey = try XCTUnwrap(try kmipRecord()["keyID"] as? String)
        let rekeyed = vol.tdefs(["passwd", vol.mnt] + kmip() + ["--new-key-kmip", "127.0.0.1:\(server.port)"])
        XCTAssertEqual(rekeyed.status, 0, rekeyed.summary)
        let secondKey = try XCTUnwrap(try kmipRecord()["keyID"] as? String)
        XCTAssertNotEqual(firstKey, secondKey)
        try admin().revoke(firstKey)
        vol.unmount()
        try assertMountRefused(kmip(keyID: firstKey), status: 2)
        try vol.mount(keyArgs: kmip(keyID: secondKey))

        // Back to a key file, while mounted.
        let newKey = vol.base + "/new.key"
        vol.writeKeyFile(newKey)
        let back = vol.tdefs(["passwd", vol.mnt] + kmip() + ["--new-key-file", newKey])
        XCTAssertEqual(back.status, 0, back.summary)
        vol.unmount()
        XCTAssertEqual((try config()["keySource"] as? [String: Any])?["kdf"] as? String, "hkdf-sha256")
        try assertMountRefused(kmip(), status: 2)
        try assertMountRefused(["--key-file", vol.keyFile], status: 10)
        try vol.mount(keyArgs: ["--key-file", newKey])
        XCTAssertEqual(try readFile("\(vol.mnt)/kept"), Array("through two key sources".utf8))
    }

    func testOnlineRotationWithAServerHeldKey() throws {
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + kmip()).status, 0)
        try vol.mount(keyArgs: kmip())
        try writeFile("\(vol.mnt)/before", "epoch 1")
        let rotate = vol.tdefs(["rotate", vol.mnt] + kmip())
        XCTAssertEqual(rotate.status, 0, rotate.summary)
        try writeFile("\(vol.mnt)/after", "epoch 2")
        let reencrypt = vol.tdefs(["rotate", vol.mnt] + kmip() + ["--reencrypt"])
        XCTAssertEqual(reencrypt.status, 0, reencrypt.summary)
        XCTAssertEqual(try status()["currentEpoch"] as? Int, 3)
        vol.unmount()
        try vol.mount(keyArgs: kmip())
        XCTAssertEqual(try readFile("\(vol.mnt)/before"), Array("epoch 1".utf8))
        XCTAssertEqual(try readFile("\(vol.mnt)/after"), Array("epoch 2".utf8))
    }

    func testAServerThatIsDownOrAWrongCertificateIsExit16AndChangesNothing() throws {
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + kmip()).status, 0)
        let down = try assertMountRefused(kmip(port: freeLoopbackPort()), status: 16)
        XCTAssertTrue(down.contains("KMIP server 127.0.0.1:") && down.contains("cannot connect"), down)
        let rogue = try assertMountRefused(kmip(rogue: true), status: 16)
        XCTAssertTrue(rogue.contains("alert") && rogue.contains("does it trust the client certificate"), rogue)
        // This host's files are not the server's fault: exit 1, and no retry by the unit.
        var missing = kmip()
        missing[missing.firstIndex(of: "--kmip-client-key")! + 1] = vol.base + "/no-such.key"
        let local = try assertMountRefused(missing, status: 1)
        XCTAssertTrue(local.contains("cannot use the client key"), local)
        // A passwd or rotate that cannot reach the server changes nothing either (but the root's
        // mtime: their transaction's lock file, tdefs.conflock, is made on first use and kept).
        let before = try snapshotTree(vol.backing, xattrs: true, mtimes: false)
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing] + kmip(port: freeLoopbackPort())).status, 16)
        XCTAssertEqual(vol.tdefs(["passwd", vol.backing] + kmip(rogue: true) + ["--new-key-file", vol.keyFile]).status, 16)
        let diffs = treeDifferences(before, try snapshotTree(vol.backing, xattrs: true, mtimes: false), labels: ("before", "after"))
            .filter { $0 != "'tdefs.conflock' only in after" }
        XCTAssertTrue(diffs.isEmpty, diffs.joined(separator: "\n"))
        // An init whose server is down leaves the backing directory empty.
        let other = vol.base + "/other"
        let r = vol.tdefs(["init", other] + kmip(port: freeLoopbackPort()))
        XCTAssertEqual(r.status, 16, r.summary)
        XCTAssertFalse(Paths_hasEntries(other), "an init that failed wrote nothing")
        try vol.mount(keyArgs: kmip())
    }

    func testARevokedOrDestroyedKeyLocksTheVolumeAndTheOtherVolumeOfTheServerStaysOpen() throws {
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + kmip()).status, 0)
        let keyID = try XCTUnwrap(try kmipRecord()["keyID"] as? String)
        let second = TestVolume(bin: vol.bin, prefix: "tdefs-kmip-second")
        defer { second.destroy() }
        XCTAssertEqual(second.tdefs(["init", second.backing] + kmip()).status, 0)

        try admin().revoke(keyID)
        let revoked = try assertMountRefused(kmip(), status: 17)
        XCTAssertTrue(revoked.contains("decrypt with key \(keyID)") && revoked.contains("result status 1")
                      && revoked.contains("Active state"), revoked)
        // The other volume, with its own key on the same server, is untouched by the revocation.
        try second.mount(keyArgs: kmip())
        try writeFile("\(second.mnt)/still", "open")
        second.unmount()

        let secondConf = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(second.backing + "/tdefs.conf"))) as? [String: Any])
        let secondKey = try XCTUnwrap(((secondConf["keySource"] as? [String: Any])?["kmip"] as? [String: Any])?["keyID"] as? String)
        try admin().discard(secondKey)
        let r = second.tdefs(["mount", second.backing, second.mnt] + kmip())
        XCTAssertEqual(r.status, 17, r.summary)
        XCTAssertFalse(isMounted(second.mnt))
    }

    func testAKeyMadeForAVolumeThatWasNotCreatedIsDestroyed() throws {
        // PyKMIP numbers its keys: the next one made is the probe's number plus one.
        let probe = try XCTUnwrap(Int(try admin().createKey(name: "tdefs-test-probe-\(server.port)")))
        let file = vol.base + "/a-file"
        try writeFile(file, "not a directory")
        let r = vol.tdefs(["init", file + "/backing"] + kmip())
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertThrowsError(try admin().fetchKey(String(probe + 1)), "the key init made is gone") {
            XCTAssertTrue(($0 as? KeyManagerError)?.isRefusal ?? false, "\($0)")
        }
        XCTAssertNoThrow(try admin().fetchKey(String(probe)), "the probe, made outside tdefs, is still there")
    }

    func testAMountedVolumeKeepsWorkingWhenItsServerGoesAway() throws {
        let own = try KMIPTestServer()
        defer { own.stop() }
        let args = kmip(of: own)
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + args).status, 0)
        try vol.mount(keyArgs: args)
        own.endServer()  // the server's process goes; its certificates stay for the last mount

        // The keys are in the daemon's memory: the server is asked only to unlock.
        try writeFile("\(vol.mnt)/written", "after the server stopped")
        XCTAssertEqual(try readFile("\(vol.mnt)/written"), Array("after the server stopped".utf8))
        vol.unmount()
        let down = try assertMountRefused(args, status: 16)
        XCTAssertTrue(down.contains("cannot connect"), down)
    }

    func testKeyCheckLocksTheMountWhenTheServerRevokesTheKey() throws {
        let audit = ["TDEFS_AUDIT_FILE": vol.base + "/audit.jsonl"]
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + kmip(), env: audit).status, 0)
        let keyID = try XCTUnwrap(try kmipRecord()["keyID"] as? String)
        XCTAssertEqual(vol.tdefs(["mount", vol.backing, vol.mnt, "-o", "key_check"] + kmip()).status, 2, "key_check takes seconds")
        try vol.mount(options: ["key_check=1"], keyArgs: kmip(), env: audit)
        let fd = open(vol.mnt + "/table", O_CREAT | O_WRONLY, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(write(fd, "committed", 9), 9)
        XCTAssertEqual(fsync(fd), 0)
        close(fd)

        try admin().revoke(keyID)
        XCTAssertTrue(eventually(attempts: 600) { !daemonHoldsTheVolume() }, "the daemon noticed the revocation and stopped")
        XCTAssertTrue(isMounted(vol.mnt), "the mount stays in place")
        XCTAssertEqual(errnoOf { var st = stat(); return stat(vol.mnt + "/table", &st) }, ENOTCONN, "every access fails")
        let events = try String(contentsOfFile: vol.base + "/audit.jsonl", encoding: .utf8)
        XCTAssertTrue(events.contains("\"event\":\"key-revoked\""), events)
        XCTAssertTrue(vol.daemonLog().contains("refused the volume's key"), vol.daemonLog())
        vol.unmount()
        try assertMountRefused(kmip(), status: 17)
    }

    func testKeyCheckKeepsTheMountWhenTheServerIsUnreachable() throws {
        let own = try KMIPTestServer()
        defer { own.stop() }
        let args = kmip(of: own)
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + args).status, 0)
        try vol.mount(options: ["key_check=1"], keyArgs: args)
        own.endServer()
        XCTAssertTrue(eventually(attempts: 600) { vol.daemonLog().contains("key check:") || !daemonHoldsTheVolume() }, vol.daemonLog())
        try writeFile(vol.mnt + "/still", "served")
        XCTAssertEqual(try readFile(vol.mnt + "/still"), Array("served".utf8))
        XCTAssertTrue(daemonHoldsTheVolume())
    }

    func testShredDestroysTheServersKey() throws {
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + kmip()).status, 0)
        let keyID = try XCTUnwrap(try kmipRecord()["keyID"] as? String)
        let r = vol.tdefs(["shred", vol.backing] + kmip() + ["--confirm-destroy-all-data"])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stdout.contains("its KMIP key is destroyed too"), r.stdout)
        XCTAssertThrowsError(try admin().fetchKey(keyID), "the server's key is gone") {
            XCTAssertTrue(($0 as? KeyManagerError)?.keyIsWithdrawn ?? false, "\($0)")
        }
    }

    func testKeyCheckNeedsAKMIPVolume() throws {
        try vol.initVolume()
        let r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile, "-o", "key_check=5"])
        XCTAssertEqual(r.status, 2, r.summary)
        XCTAssertFalse(isMounted(vol.mnt))
    }

    /// The daemon's flock on tdefs.lock.
    func daemonHoldsTheVolume() -> Bool {
        let fd = open(vol.backing + "/tdefs.lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    func testAnExistingKeyByIDAndTheGetMode() throws {
        let keyID = try admin().createKey(name: "tdefs-test-existing-\(server.port)")
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + kmip(keyID: keyID)).status, 0)
        XCTAssertEqual(try kmipRecord()["keyID"] as? String, keyID)
        try vol.mount(keyArgs: kmip())
        vol.unmount()

        // By name (KMIP Locate): the key's unique identifier is what tdefs.conf records.
        let named = TestVolume(bin: vol.bin, prefix: "tdefs-kmip-named")
        defer { named.destroy() }
        let namedID = try admin().createKey(name: "tdefs-test-named-\(server.port)")
        var byName = named.tdefs(["init", named.backing] + kmip(keyID: "name:tdefs-test-named-\(server.port)"))
        XCTAssertEqual(byName.status, 0, byName.summary)
        let namedConf = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(named.backing + "/tdefs.conf"))) as? [String: Any])
        XCTAssertEqual(((namedConf["keySource"] as? [String: Any])?["kmip"] as? [String: Any])?["keyID"] as? String, namedID)
        try named.mount(keyArgs: kmip(keyID: "name:tdefs-test-named-\(server.port)"))
        named.unmount()
        byName = named.tdefs(["init", named.base + "/second"] + kmip(keyID: "name:no-such-key-\(server.port)"))
        XCTAssertEqual(byName.status, 17, byName.summary)

        let other = TestVolume(bin: vol.bin, prefix: "tdefs-kmip-get")
        defer { other.destroy() }
        let r = other.tdefs(["init", other.backing] + kmip() + ["--kmip-mode", "get"])
        XCTAssertEqual(r.status, 0, r.summary)
        let conf = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(other.backing + "/tdefs.conf"))) as? [String: Any])
        let record = try XCTUnwrap((conf["keySource"] as? [String: Any])?["kmip"] as? [String: Any])
        XCTAssertEqual(record["mode"] as? String, "get")
        XCTAssertNil(record["wrappedSecret"], "mode get keeps nothing of the key in tdefs.conf")
        try other.mount(keyArgs: kmip())
        try writeFile("\(other.mnt)/x", "fetched key")
        other.unmount()
        try other.mount(keyArgs: kmip())
        XCTAssertEqual(try readFile("\(other.mnt)/x"), Array("fetched key".utf8))
    }
}

/// True when the directory exists and has entries.
private func Paths_hasEntries(_ path: String) -> Bool {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).isEmpty == false
}
