import XCTest
import TDEFSTestSupport
import Foundation
import Glibc

/// The fstab mount helper (scripts/mount.fuse.tdefs, installed as /sbin/mount.fuse.tdefs) through
/// the real mount(8) and umount(8): a fuse.tdefs line in a temporary fstab (mount -T), with the
/// tdefs options (keyfile=, keycommand= with \040 for spaces) and x-systemd.* options.
///
/// mount(8) looks for helpers only in /sbin (/usr/sbin on Debian), so the test puts the helper
/// there for its duration and restores what was there before.
final class OpsFstabTests: XCTestCase {
    var vol: TestVolume!
    var mountTool = ""
    var umountTool = ""
    static let helperPath = "/sbin/mount.fuse.tdefs"
    var savedHelper: [UInt8]?
    var savedMode: mode_t = 0o755

    override func setUpWithError() throws {
        try super.setUpWithError()
        let bin = try Harness.requireMountable(needsRoot: true)
        mountTool = try Ops.tool("mount", package: "mount")
        umountTool = try Ops.tool("umount", package: "mount")
        vol = TestVolume(bin: bin, prefix: "tdefs-OpsFstab")
        try vol.initVolume()
        if let st = statOrNil(Self.helperPath) {
            savedHelper = try readFile(Self.helperPath)
            savedMode = st.st_mode & 0o7777
        }
        let helper = try readFile(Harness.packageRoot() + "/scripts/mount.fuse.tdefs")
        try writeFile(Self.helperPath, helper, mode: 0o755)
        XCTAssertEqual(chmod(Self.helperPath, 0o755), 0)
    }

    override func tearDown() {
        if let vol, Ops.isMountPoint(vol.mnt) { _ = runCommand(umountTool, [vol.mnt]) }
        vol?.destroy()
        if let savedHelper {
            try? writeFile(Self.helperPath, savedHelper, mode: savedMode)
            chmod(Self.helperPath, savedMode)
        } else {
            unlink(Self.helperPath)
        }
        super.tearDown()
    }

    var helperEnv: [String: String] { ["TDEFS_BIN": vol.bin] }

    func writeFstab(_ options: String) throws -> String {
        let fstab = vol.base + "/fstab"
        try writeFile(fstab, "# test fstab\n\(vol.backing) \(vol.mnt) fuse.tdefs \(options) 0 0\n")
        return fstab
    }

    func testMountMountAllAndUmount() throws {
        let options = "keyfile=\(vol.keyFile),allow_other,noatime,nofail,_netdev,x-systemd.requires=network-online.target,"
            + "x-systemd.mount-timeout=30s,logfile=\(vol.logFile)"
        let fstab = try writeFstab(options)

        var r = runCommand(mountTool, ["-T", fstab, vol.mnt], env: helperEnv)
        XCTAssertEqual(r.status, 0, r.summary + "\nlog: " + vol.daemonLog())
        XCTAssertEqual(Ops.mountType(vol.mnt), "fuse.tdefs")
        XCTAssertTrue(Ops.isMountPoint(vol.mnt))
        let info = Ops.read("/proc/self/mountinfo").split(separator: "\n").first { $0.contains(" \(vol.mnt) ") } ?? ""
        XCTAssertTrue(info.contains("allow_other"), String(info))
        XCTAssertTrue(info.contains("noatime"), String(info))
        XCTAssertTrue(info.contains(" fuse.tdefs \(vol.backing) "), String(info))
        try writeFile(vol.mnt + "/db", "rows")

        // mount -a: the entry is mounted already, so nothing happens and it succeeds.
        r = runCommand(mountTool, ["-T", fstab, "-a"], env: helperEnv)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(mountedPaths().filter { $0 == vol.mnt }.count, 1)

        // tdefs status sees the mount made through mount(8).
        let s = vol.tdefs(["status", vol.mnt, "--json"])
        XCTAssertTrue(s.stdout.contains("\"mounted\" : true") || s.stdout.contains("\"mounted\": true")
                      || s.stdout.contains("\"mounted\":true"), s.stdout)

        // umount(8) unmounts it; the daemon flushes and lets go of the volume.
        r = runCommand(umountTool, [vol.mnt])
        XCTAssertEqual(r.status, 0, r.summary)
        vol.waitForDaemonExit()
        XCTAssertFalse(Ops.isMountPoint(vol.mnt))
        XCTAssertTrue(vol.daemonLog().contains("unmounted from \(vol.mnt)"), vol.daemonLog())

        // mount -a mounts it again; the data is there.
        r = runCommand(mountTool, ["-T", fstab, "-a"], env: helperEnv)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try readFile(vol.mnt + "/db"), Array("rows".utf8))
        r = runCommand(umountTool, [vol.mnt])
        XCTAssertEqual(r.status, 0, r.summary)
        vol.waitForDaemonExit()
        XCTAssertFalse(Ops.isMountPoint(vol.mnt))
    }

    func testKeyCommandWithSpacesAndReadOnly() throws {
        // fstab fields cannot hold spaces: \040 stands for one, and mount(8) decodes it.
        let fstab = try writeFstab("keycommand=cat\\040\(vol.keyFile),ro,defaults")
        var r = runCommand(mountTool, ["-T", fstab, vol.mnt], env: helperEnv)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(Ops.mountType(vol.mnt), "fuse.tdefs")
        XCTAssertNotEqual(errnoOf { creat(vol.mnt + "/x", 0o644) }, 0, "a read-only mount took a new file")
        r = runCommand(umountTool, [vol.mnt])
        XCTAssertEqual(r.status, 0, r.summary)
        vol.waitForDaemonExit()
    }

    func testWrongKeyFailsAndMountsNothing() throws {
        let other = vol.base + "/other.key"
        vol.writeKeyFile(other)
        let fstab = try writeFstab("keyfile=\(other)")
        let r = runCommand(mountTool, ["-T", fstab, vol.mnt], env: helperEnv)
        XCTAssertEqual(r.status, 10, r.summary)
        XCTAssertFalse(Ops.isMountPoint(vol.mnt))
    }

    /// kmip= and its kmipclientcert=, kmipclientkey=, kmipca=, kmipkeyid= options, against a real
    /// PyKMIP server: the volume's key moved to the server by passwd, then mounted from fstab.
    func testAKMIPKeySourceFromFstab() throws {
        let server = try KMIPTestServer()
        defer { server.stop() }
        let files = "kmipclientcert=\(server.clientCertificate),kmipclientkey=\(server.clientKey),kmipca=\(server.caCertificate)"
        let moved = vol.tdefs(["passwd", vol.backing, "--key-file", vol.keyFile, "--new-key-kmip", "127.0.0.1:\(server.port)",
                               "--kmip-client-cert", server.clientCertificate, "--kmip-client-key", server.clientKey,
                               "--kmip-ca", server.caCertificate])
        XCTAssertEqual(moved.status, 0, moved.summary)
        let conf = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try readFile(vol.backing + "/tdefs.conf"))) as? [String: Any])
        let keyID = try XCTUnwrap(((conf["keySource"] as? [String: Any])?["kmip"] as? [String: Any])?["keyID"] as? String)

        let fstab = try writeFstab("kmip=127.0.0.1:\(server.port),\(files),kmipkeyid=\(keyID),noatime,_netdev")
        var r = runCommand(mountTool, ["-T", fstab, vol.mnt], env: helperEnv)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(Ops.mountType(vol.mnt), "fuse.tdefs")
        try writeFile(vol.mnt + "/from-fstab", "kmip")
        r = runCommand(umountTool, [vol.mnt])
        XCTAssertEqual(r.status, 0, r.summary)
        vol.waitForDaemonExit()

        // The server down: exit 16 through mount(8), nothing mounted.
        let down = try writeFstab("kmip=127.0.0.1:\(freeLoopbackPort()),\(files)")
        r = runCommand(mountTool, ["-T", down, vol.mnt], env: helperEnv)
        XCTAssertEqual(r.status, 16, r.summary)
        XCTAssertFalse(Ops.isMountPoint(vol.mnt))
        // The client options without kmip= are refused by the helper.
        let stray = runCommand("/bin/sh", [Harness.packageRoot() + "/scripts/mount.fuse.tdefs", vol.backing, vol.mnt, "-f", "-o",
                                           "keyfile=/k,kmipca=/ca"], env: helperEnv)
        XCTAssertEqual(stray.status, 1, stray.summary)
        XCTAssertTrue(stray.stderr.contains("belong to kmip="), stray.stderr)
    }

    /// The helper's option handling, without mounting (-f: fake, -v: say what would run).
    func testHelperOptionFiltering() throws {
        let helper = Harness.packageRoot() + "/scripts/mount.fuse.tdefs"
        let r = runCommand("/bin/sh", [helper, vol.backing, vol.mnt, "-f", "-v", "-o",
                                       "rw,nosuid,keyfile=/k,x-systemd.automount,_netdev,nofail,noauto,auto,user,users,"
                                       + "comment=systemd.x,X-mount.mkdir,allow_other,uid=0"], env: helperEnv)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stderr.contains("mount \(vol.backing) \(vol.mnt) --key-file ... -o rw,nosuid,allow_other,uid=0"), r.stderr)
        XCTAssertFalse(r.stderr.contains("/k"), "the key option's value is not echoed: \(r.stderr)")
        // Two key options are refused; so is a missing argument.
        var bad = runCommand("/bin/sh", [helper, vol.backing, vol.mnt, "-f", "-o", "keyfile=/a,keycommand=b"], env: helperEnv)
        XCTAssertEqual(bad.status, 1, bad.summary)
        bad = runCommand("/bin/sh", [helper, vol.backing], env: helperEnv)
        XCTAssertEqual(bad.status, 1, bad.summary)
    }
}
