import XCTest
import Foundation
import Glibc

/// Unlocking from systemd credentials: `--key-credential NAME` reads $CREDENTIALS_DIRECTORY/NAME
/// (what LoadCredential= / LoadCredentialEncrypted= provide), and the contract's
/// `--key-file $CREDENTIALS_DIRECTORY/NAME` works as well.
final class OpsCredentialTests: XCTestCase {
    var vol: TestVolume!
    var credentials: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        let bin = try Harness.requireMountable()
        vol = TestVolume(bin: bin, prefix: "tdefs-OpsCred")
        // As systemd makes it: a private directory with read-only files.
        credentials = vol.base + "/credentials"
        XCTAssertEqual(mkdir(credentials, 0o700), 0)
    }

    override func tearDown() {
        vol?.destroy()
        super.tearDown()
    }

    func putCredential(_ name: String, _ bytes: [UInt8]) throws {
        try writeFile(credentials + "/" + name, bytes, mode: 0o400)
        XCTAssertEqual(chmod(credentials + "/" + name, 0o400), 0)
    }

    func testKeyVolumeFromCredential() throws {
        try vol.initVolume()
        try putCredential("tdefs.key", try readFile(vol.keyFile))
        let env = ["CREDENTIALS_DIRECTORY": credentials!]
        try vol.mount(keyArgs: ["--key-credential", "tdefs.key"], env: env)
        try writeFile(vol.mnt + "/a", "via credential")
        vol.unmount()
        // The contract's way: --key-file with the credential's path.
        try vol.mount(keyArgs: ["--key-file", credentials + "/tdefs.key"], env: env)
        XCTAssertEqual(try readFile(vol.mnt + "/a"), Array("via credential".utf8))
        vol.unmount()
        // A base64 credential (systemd-creds decrypts to whatever was encrypted) works too.
        let b64 = Data(try readFile(vol.keyFile)).base64EncodedString() + "\n"
        try putCredential("tdefs.b64", Array(b64.utf8))
        try vol.mount(keyArgs: ["--key-credential", "tdefs.b64"], env: env)
        XCTAssertEqual(try readFile(vol.mnt + "/a"), Array("via credential".utf8))
    }

    /// LoadCredentialEncrypted=: the key encrypted with systemd-creds (the host key; TPM2 is not
    /// there in CI), decrypted into the credentials directory as systemd does at unit start, and
    /// read by --key-credential. SYSTEMD_CREDENTIAL_SECRET keeps the host key in the test's
    /// directory instead of /var/lib/systemd.
    func testEncryptedCredentialFromSystemdCreds() throws {
        let creds = try Ops.tool("systemd-creds", package: "systemd")
        try vol.initVolume()
        let secretDir = vol.base + "/host-secret"
        XCTAssertEqual(mkdir(secretDir, 0o700), 0)
        let env = ["SYSTEMD_CREDENTIAL_SECRET": secretDir + "/credential.secret"]
        let encrypted = vol.base + "/tdefs-vol.key.cred"
        var r = runCommand(creds, ["encrypt", "--with-key=host", "--name=tdefs.key", vol.keyFile, encrypted], env: env)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertNotEqual(try readFile(encrypted), try readFile(vol.keyFile))
        // What LoadCredentialEncrypted=tdefs.key:PATH does before ExecStart.
        r = runCommand(creds, ["decrypt", "--name=tdefs.key", encrypted, credentials + "/tdefs.key"], env: env)
        XCTAssertEqual(r.status, 0, r.summary)
        try vol.mount(keyArgs: ["--key-credential", "tdefs.key"], env: ["CREDENTIALS_DIRECTORY": credentials!])
        XCTAssertTrue(Ops.isMountPoint(vol.mnt))
        // The credential's embedded name must match the name the unit gives it.
        r = runCommand(creds, ["decrypt", "--name=other.key", encrypted, credentials + "/other.key"], env: env)
        XCTAssertNotEqual(r.status, 0, r.summary)
    }

    func testPassphraseVolumeFromCredential() throws {
        let env = ["TDEFS_SCRYPT_N": "1024", "CREDENTIALS_DIRECTORY": credentials!]
        let pw = vol.base + "/pw"
        try writeFile(pw, "correct horse battery staple\n", mode: 0o600)
        try vol.initVolume(keyArgs: ["--passphrase-file", pw], env: env)
        try putCredential("tdefs.pass", Array("correct horse battery staple\n".utf8))
        try vol.mount(keyArgs: ["--key-credential", "tdefs.pass"], env: env)
        XCTAssertTrue(Ops.isMountPoint(vol.mnt))
        vol.unmount()
        try putCredential("wrong.pass", Array("wrong horse\n".utf8))
        let r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-credential", "wrong.pass"], env: env)
        XCTAssertEqual(r.status, 10, r.summary)
    }

    func testInitFromCredentialMakesKeyVolume() throws {
        try putCredential("tdefs.key", try readFile(vol.keyFile))
        let env = ["CREDENTIALS_DIRECTORY": credentials!]
        try vol.initVolume(keyArgs: ["--key-credential", "tdefs.key"], env: env)
        let s = vol.tdefs(["status", vol.backing, "--json"])
        XCTAssertTrue(s.stdout.contains("\"hkdf-sha256\""), s.stdout)
        try vol.mount()   // with the same key as a key file
    }

    func testCredentialErrors() throws {
        try vol.initVolume()
        let env = ["CREDENTIALS_DIRECTORY": credentials!]
        // Not run by systemd: no $CREDENTIALS_DIRECTORY is a usage error (2).
        var r = runCommand("/usr/bin/env", ["-u", "CREDENTIALS_DIRECTORY", vol.bin, "mount", vol.backing, vol.mnt,
                                            "--key-credential", "tdefs.key"])
        XCTAssertEqual(r.status, 2, r.summary)
        XCTAssertTrue(r.stderr.contains("CREDENTIALS_DIRECTORY"), r.stderr)
        // A name, not a path.
        r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-credential", "../key"], env: env)
        XCTAssertEqual(r.status, 2, r.summary)
        // Only one key option.
        r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-credential", "tdefs.key", "--key-file", vol.keyFile], env: env)
        XCTAssertEqual(r.status, 2, r.summary)
        // A missing or empty credential: error 1; a wrong one: 10. Nothing mounted.
        r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-credential", "missing"], env: env)
        XCTAssertEqual(r.status, 1, r.summary)
        try putCredential("empty", [])
        r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-credential", "empty"], env: env)
        XCTAssertEqual(r.status, 1, r.summary)
        try putCredential("other", (0..<32).map { _ in UInt8.random(in: 0...255) })
        r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-credential", "other"], env: env)
        XCTAssertEqual(r.status, 10, r.summary)
        XCTAssertFalse(Ops.isMountPoint(vol.mnt))
    }
}
