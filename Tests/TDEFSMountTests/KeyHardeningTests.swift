import XCTest
import Foundation
import Glibc
import TDEFSCore

/// Issue 19, item 9: the key sources and the key lifecycle (docs/threat-model.md lists what each
/// test shows).
final class KeyHardeningTests: XCTestCase {
    var vol: TestVolume!
    let scrypt = ["TDEFS_SCRYPT_N": "1024"]

    override func setUpWithError() throws {
        vol = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-keyhardening")
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
    }

    func config() throws -> [String: Any] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: vol.backing + "/tdefs.conf"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func kdf() throws -> String? { (try config()["keySource"] as? [String: Any])?["kdf"] as? String }

    /// A passphrase typed through a command (the systemd-ask-password recipe; here `cat` of a
    /// file stands for the person) is stretched with scrypt when given as --passphrase-command:
    /// init, and passwd's new source, make passphrase volumes; the same command mounts them, as
    /// --passphrase-command or as --key-command, and so does the passphrase in a file.
    func testPassphraseCommandMakesAPassphraseVolume() throws {
        let typed = vol.base + "/typed"
        try writeFile(typed, "correct horse battery staple\n", mode: 0o600)
        let ask = "cat '\(typed)'"
        try vol.initVolume(keyArgs: ["--passphrase-command", ask], env: scrypt)
        XCTAssertEqual(try kdf(), "scrypt")
        for keyArgs in [["--passphrase-command", ask], ["--key-command", ask], ["--passphrase-file", typed]] {
            try vol.mount(keyArgs: keyArgs)
            try writeFile(vol.mnt + "/f", "secret data")
            XCTAssertEqual(try readFile(vol.mnt + "/f"), Array("secret data".utf8))
            vol.unmount()
        }
        // A wrong typed passphrase is refused.
        let wrong = vol.tdefs(["mount", vol.backing, vol.mnt, "--passphrase-command", "echo wrong"])
        XCTAssertEqual(wrong.status, 10, wrong.summary)

        // passwd to another typed passphrase keeps it a passphrase volume.
        let retyped = vol.base + "/retyped"
        try writeFile(retyped, "another long passphrase\n", mode: 0o600)
        let r = vol.tdefs(["passwd", vol.backing, "--passphrase-command", ask, "--new-passphrase-command", "cat '\(retyped)'"], env: scrypt)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try kdf(), "scrypt")
        try vol.mount(keyArgs: ["--passphrase-command", "cat '\(retyped)'"])
        XCTAssertEqual(try readFile(vol.mnt + "/f"), Array("secret data".utf8))
        vol.unmount()

        // --key-command still makes a key volume (its output is a key, not stretched).
        let other = TestVolume(bin: vol.bin, prefix: "tdefs-keycommand")
        defer { other.destroy() }
        try other.initVolume(keyArgs: ["--key-command", "cat '\(other.keyFile)'"])
        let data = try XCTUnwrap(FileManager.default.contents(atPath: other.backing + "/tdefs.conf"))
        let conf = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual((conf["keySource"] as? [String: Any])?["kdf"] as? String, "hkdf-sha256")
    }

    /// Root keeps CAP_IPC_LOCK, with which mlock ignores RLIMIT_MEMLOCK: the command runs with that
    /// capability dropped from its bounding set (setpriv) and the limit at 0 (prlimit), so mlock fails.
    func withoutMemoryLocking(_ args: [String], env: [String: String] = [:]) throws -> CommandResult {
        guard geteuid() == 0 else { throw HarnessError("this test needs root (to drop CAP_IPC_LOCK)") }
        let setpriv = try XCTUnwrap(Harness.which("setpriv"), "setpriv (util-linux) is missing")
        let prlimit = try XCTUnwrap(Harness.which("prlimit"), "prlimit (util-linux) is missing")
        return runCommand(setpriv, ["--bounding-set", "-ipc_lock", prlimit, "--memlock=0:0", vol.bin] + args, env: env, deadline: 300)
    }

    func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// A failed mlock is said, once, with the reason: by the CLI on its standard error, and by the
    /// daemon in its log; the volume still works.
    func testFailedMemoryLockingIsReportedOnce() throws {
        try vol.initVolume()
        let warning = "cannot lock key memory (mlock: Operation not permitted; RLIMIT_MEMLOCK is 0 bytes)"
        let fsck = try withoutMemoryLocking(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(fsck.status, 0, fsck.summary)
        XCTAssertEqual(occurrences(warning, in: fsck.stderr), 1, fsck.summary)

        let mount = try withoutMemoryLocking(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile],
                                             env: ["TDEFS_LOG_FILE": vol.logFile])
        XCTAssertEqual(mount.status, 0, mount.summary)
        XCTAssertEqual(occurrences(warning, in: mount.stderr), 1, "the mount command: \(mount.summary)")
        XCTAssertEqual(occurrences(warning, in: vol.daemonLog()), 1, "the daemon's log: \(vol.daemonLog())")
        try writeFile(vol.mnt + "/f", "data")
        XCTAssertEqual(try readFile(vol.mnt + "/f"), Array("data".utf8))
        vol.unmount()

        // With locking allowed, nothing is said.
        let normal = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(normal.status, 0, normal.summary)
        XCTAssertFalse(normal.stderr.contains("cannot lock key memory"), normal.summary)
    }

    /// TDEFS_LOG_FILE is opened with O_NOFOLLOW: a symlink planted there (towards a file the
    /// daemon, often root, would append to) is refused with a warning; the daemon logs to the
    /// journal instead, and the mount works.
    func testSymlinkedLogFileIsRefused() throws {
        try vol.initVolume()
        let victim = vol.base + "/victim"
        try writeFile(victim, "precious\n")
        let link = vol.base + "/daemon-link.log"
        XCTAssertEqual(symlink(victim, link), 0)
        let r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile], env: ["TDEFS_LOG_FILE": link])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stderr.contains("not logging to TDEFS_LOG_FILE \(link): it is a symlink"), r.summary)
        XCTAssertTrue(isMounted(vol.mnt))
        try writeFile(vol.mnt + "/f", "data")
        vol.unmount()
        XCTAssertEqual(try readFile(victim), Array("precious\n".utf8), "the daemon wrote through the symlink")
        XCTAssertEqual(lstatOrNil(link).map { $0.st_mode & S_IFMT }, S_IFLNK)
    }

    var conf: String { vol.backing + "/tdefs.conf" }

    func volumeID() throws -> [UInt8] {
        try XCTUnwrap(Base64URL.decode(try XCTUnwrap(try config()["volumeID"] as? String)))
    }

    /// add-epoch never overwrites an epoch: after an online rotation to epoch 2, tdefs.conf is
    /// rolled back to its copy from before (epoch 1 only, as a restored backup would be). A new
    /// rotation would make another epoch 2 and hand it to the daemon, which would drop the key
    /// of every file written since: rotate refuses (exit 11), tdefs.conf is unchanged, and the
    /// daemon refuses an add-epoch that would replace a key it holds.
    func testRotationTowardsAnEpochTheDaemonHoldsIsRefused() throws {
        try vol.initVolume()
        try vol.mount()
        let epoch1 = try readFile(conf)
        let first = vol.tdefs(["rotate", vol.backing, "--key-file", vol.keyFile], deadline: 300)
        XCTAssertEqual(first.status, 0, first.summary)
        try writeFile(vol.mnt + "/since", "written under epoch 2")

        try writeFile(conf, epoch1, mode: 0o600)
        let r = vol.tdefs(["rotate", vol.backing, "--key-file", vol.keyFile], deadline: 300)
        XCTAssertEqual(r.status, 11, r.summary)
        // Refused first as a tdefs.conf older than the daemon has seen (ConfigRollbackCheck); the
        // check that the new epoch's number is not one the daemon holds stays behind it.
        XCTAssertTrue(r.stderr.contains("put back from an older copy") || r.stderr.contains("epoch 2 is already in use by the volume's daemon"),
                      r.summary)
        XCTAssertEqual(try readFile(conf), epoch1, "tdefs.conf changed")

        // The daemon's own guard: another key for an epoch it holds is refused.
        let bogus = ControlRequest(op: .addEpoch, epoch: 2, cipher: "AES-256-GCM", key: Base64URL.encode(Array(repeating: 7, count: 32)))
        let reply = try XCTUnwrap(ControlClient.send(bogus, backingPath: vol.backing, volumeID: try volumeID()), "the daemon does not answer")
        XCTAssertFalse(reply.ok)
        XCTAssertTrue(reply.error?.contains("refusing to replace it") ?? false, "\(reply)")
        XCTAssertEqual(try readFile(vol.mnt + "/since"), Array("written under epoch 2".utf8))
        try writeFile(vol.mnt + "/after", "still epoch 2")
        vol.unmount()
        XCTAssertTrue(vol.daemonLog().contains("refused to replace key epoch 2"), vol.daemonLog())
    }

    /// retire checks the daemon's reply: with the daemon stopped (SIGSTOP), so that it accepts
    /// the connection and never answers, retire fails without changing tdefs.conf; once the daemon
    /// runs again, retire removes the epoch from tdefs.conf and from the daemon's memory, which
    /// the daemon confirms.
    func testRetireChecksTheDaemonsReply() throws {
        try vol.initVolume()
        try vol.mount()
        try writeFile(vol.mnt + "/f", "data")
        let rotate = vol.tdefs(["rotate", vol.backing, "--reencrypt", "--key-file", vol.keyFile], deadline: 300)
        XCTAssertEqual(rotate.status, 0, rotate.summary)
        let daemon = try XCTUnwrap(lockHolderPID(backing: vol.backing))
        let before = try readFile(conf)

        XCTAssertEqual(kill(daemon, SIGSTOP), 0)
        let stopped = vol.tdefs(["retire", vol.backing, "--key-file", vol.keyFile, "--epoch", "1"], deadline: 300)
        XCTAssertEqual(kill(daemon, SIGCONT), 0)
        XCTAssertFalse(stopped.hung, stopped.summary)
        XCTAssertEqual(stopped.status, 1, stopped.summary)
        XCTAssertTrue(stopped.stderr.contains("does not answer") && stopped.stderr.contains("nothing was retired"), stopped.summary)
        XCTAssertEqual(try readFile(conf), before, "tdefs.conf changed")

        let r = vol.tdefs(["retire", vol.backing, "--key-file", vol.keyFile, "--epoch", "1"], deadline: 300)
        XCTAssertEqual(r.status, 0, r.summary)
        let epochs = (try config()["epochs"] as? [[String: Any]])?.compactMap { $0["epoch"] as? Int }
        XCTAssertEqual(epochs, [2])
        let status = try XCTUnwrap(ControlClient.send(ControlRequest(op: .status), backingPath: vol.backing, volumeID: try volumeID()))
        XCTAssertEqual(status.epochs, [2], "the daemon still holds epoch 1")
        XCTAssertEqual(try readFile(vol.mnt + "/f"), Array("data".utf8))
    }
}
