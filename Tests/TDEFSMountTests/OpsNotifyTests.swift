import XCTest
import Foundation
import Glibc

/// The systemd Type=notify protocol of `tdefs mount --foreground`, against a real datagram socket
/// standing in for $NOTIFY_SOCKET: READY=1 only once the mount answers, STATUS= lines, STOPPING=1
/// on SIGTERM, a clean unmount and exit 0; and the journal's log format under $JOURNAL_STREAM.
final class OpsNotifyTests: XCTestCase {
    var vol: TestVolume!
    var daemon: SpawnedProcess?

    override func setUpWithError() throws {
        try super.setUpWithError()
        let bin = try Harness.requireMountable()
        vol = TestVolume(bin: bin, prefix: "tdefs-OpsNotify")
        try vol.initVolume()
    }

    override func tearDown() {
        daemon?.stop()
        vol?.destroy()
        super.tearDown()
    }

    func startForeground(notify: NotifySocket?, keyArgs: [String]? = nil, env: [String: String] = [:],
                         stderrPath: String? = nil) throws -> SpawnedProcess {
        var e = env
        if let notify { e["NOTIFY_SOCKET"] = notify.path }
        let p = try SpawnedProcess(vol.bin, ["mount", vol.backing, vol.mnt] + (keyArgs ?? ["--key-file", vol.keyFile]) + ["-f"],
                                   env: e, removeEnv: notify == nil ? ["NOTIFY_SOCKET"] : [], stderrPath: stderrPath)
        daemon = p
        return p
    }

    func testReadyOnlyOnceMountAnswersThenStoppingOnSIGTERM() throws {
        let notify = try NotifySocket(path: vol.base + "/notify.sock")
        let p = try startForeground(notify: notify)

        let (before, ready) = notify.receive(until: "READY=1")
        XCTAssertTrue(ready, "no READY=1; got \(before); stderr: \(p.stderr)")
        // At READY=1 the mount answers: the mountpoint is another filesystem, of type fuse.tdefs,
        // and a file goes through it.
        XCTAssertTrue(Ops.isMountPoint(vol.mnt), "READY=1 came before the mount was live")
        XCTAssertEqual(Ops.mountType(vol.mnt), "fuse.tdefs")
        try writeFile(vol.mnt + "/probe", "through the mount")
        XCTAssertEqual(try readFile(vol.mnt + "/probe"), Array("through the mount".utf8))
        // The READY=1 datagram carries the STATUS= line that systemctl status shows.
        let readyMessage = before.last ?? ""
        XCTAssertTrue(readyMessage.contains("STATUS=Mounted \(vol.backing) on \(vol.mnt)"), readyMessage)
        // Every message before it is a STATUS= line only (no early READY=1).
        for m in before.dropLast() {
            XCTAssertTrue(m.hasPrefix("STATUS="), "unexpected message before READY=1: \(m)")
            XCTAssertFalse(m.contains("READY=1"), m)
        }

        // tdefs status works against a mount made in the foreground (as systemd makes it).
        let status = vol.tdefs(["status", vol.mnt, "--json"])
        XCTAssertEqual(status.status, 0, status.summary)
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(json?["mounted"] as? Bool, true, status.stdout)
        XCTAssertEqual(json?["mountpoint"] as? String, vol.mnt, status.stdout)
        XCTAssertEqual(json?["locked"] as? Bool, true, status.stdout)

        // systemctl stop: SIGTERM to the main process.
        XCTAssertEqual(kill(p.pid, SIGTERM), 0)
        let (after, stopping) = notify.receive(until: "STOPPING=1")
        XCTAssertTrue(stopping, "no STOPPING=1; got \(after); stderr: \(p.stderr)")
        XCTAssertEqual(p.wait(), 0, "exit status after SIGTERM; stderr: \(p.stderr)")
        XCTAssertFalse(Ops.isMountPoint(vol.mnt), "still mounted after the daemon exited")
        XCTAssertFalse(isMounted(vol.mnt))
        XCTAssertNil(Ops.mountType(vol.mnt))
        // Nothing is sent after STOPPING=1 but (maybe) nothing at all: the socket is quiet.
        XCTAssertNil(notify.receive(limitSeconds: 0))

        // Log lines on stderr (the foreground) name the volume.
        let log = p.stderr
        XCTAssertTrue(log.contains("info \(vol.backing): mounted on \(vol.mnt)"), log)
        XCTAssertTrue(log.contains("info \(vol.backing): unmounted from \(vol.mnt)"), log)

        // What was written is in the volume: mount again (daemon mode) and read it.
        try vol.mount()
        XCTAssertEqual(try readFile(vol.mnt + "/probe"), Array("through the mount".utf8))
    }

    /// An unmount from outside (tdefs unmount, umount) also ends with STOPPING=1 and exit 0.
    func testExternalUnmountSendsStopping() throws {
        let notify = try NotifySocket(path: vol.base + "/notify.sock")
        let p = try startForeground(notify: notify)
        XCTAssertTrue(notify.receive(until: "READY=1").found, p.stderr)
        let r = vol.tdefs(["unmount", vol.mnt])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(notify.receive(until: "STOPPING=1").found, p.stderr)
        XCTAssertEqual(p.wait(), 0, p.stderr)
        XCTAssertFalse(Ops.isMountPoint(vol.mnt))
    }

    /// A wrong key: no READY=1 ever, a STATUS= line that says why, exit 10, nothing mounted.
    func testWrongKeyNeverReady() throws {
        let notify = try NotifySocket(path: vol.base + "/notify.sock")
        let otherKey = vol.base + "/other.key"
        vol.writeKeyFile(otherKey)
        let p = try startForeground(notify: notify, keyArgs: ["--key-file", otherKey])
        XCTAssertEqual(p.wait(), 10, p.stderr)
        var messages = [String]()
        while let m = notify.receive(limitSeconds: 0) { messages.append(m) }
        XCTAssertFalse(messages.contains { $0.contains("READY=1") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.hasPrefix("STATUS=Failed: ") }, "\(messages)")
        XCTAssertFalse(Ops.isMountPoint(vol.mnt))
    }

    /// Without $NOTIFY_SOCKET nothing is sent and the foreground mount still works.
    func testNoNotifySocket() throws {
        let p = try startForeground(notify: nil)
        // No socket to wait on: unmount once the mount is up (tdefs unmount waits for it to be ours).
        var up = false
        for _ in 0..<600 where !up { up = Ops.mountType(vol.mnt) == "fuse.tdefs" && Ops.isMountPoint(vol.mnt); if !up { usleep(50_000) } }
        XCTAssertTrue(up, p.stderr)
        XCTAssertEqual(vol.tdefs(["unmount", vol.mnt]).status, 0)
        XCTAssertEqual(p.wait(), 0, p.stderr)
    }

    /// Under systemd, stderr is the journal's stream ($JOURNAL_STREAM = its device:inode): lines
    /// then carry a syslog priority prefix and the volume, and no timestamp of their own.
    func testJournalStreamFormat() throws {
        let notify = try NotifySocket(path: vol.base + "/notify.sock")
        let stderrPath = vol.base + "/journal-stream"
        let fd = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        close(fd)
        let p = try startForeground(notify: notify, env: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"],
                                    stderrPath: stderrPath)
        XCTAssertTrue(notify.receive(until: "READY=1").found, p.stderr)
        kill(p.pid, SIGTERM)
        XCTAssertEqual(p.wait(), 0, p.stderr)
        let lines = p.stderr.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("<6>\(vol.backing): mounted on \(vol.mnt) (epoch 1, AES-256-GCM)"), "\(lines)")
        XCTAssertTrue(lines.contains("<6>\(vol.backing): unmounted from \(vol.mnt)"), "\(lines)")
        for line in lines {
            XCTAssertTrue(line.hasPrefix("<") && line.contains(">\(vol.backing): "), "line without priority or volume: \(line)")
        }

        // A stale $JOURNAL_STREAM (stderr is something else) keeps the plain format.
        let p2 = try startForeground(notify: notify, env: ["JOURNAL_STREAM": "1:1"])
        XCTAssertTrue(notify.receive(until: "READY=1").found, p2.stderr)
        kill(p2.pid, SIGTERM)
        XCTAssertEqual(p2.wait(), 0, p2.stderr)
        XCTAssertTrue(p2.stderr.contains(" info \(vol.backing): mounted on \(vol.mnt)"), p2.stderr)
        XCTAssertFalse(p2.stderr.hasPrefix("<"), p2.stderr)
    }
}
