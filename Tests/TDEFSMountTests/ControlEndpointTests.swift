import Foundation
import Glibc
import XCTest

/// The control socket names the mounted backing directory, not the volume ID a copy shares
/// (issue 19, item 4): a backup copy mounted beside production (docs/rotation.md) has a daemon and
/// a socket of its own, and `tdefs rotate` on production reaches production's daemon only.
final class ControlEndpointTests: MountTestCase {
    /// The epoch in the header (bytes 8..11) of the backing file with inode `ino` at `backing`'s root
    /// (tdefs shows backing inode numbers through the mount).
    func headerEpoch(backing: String, inode ino: UInt64) throws -> UInt32 {
        let name = try XCTUnwrap(try listDir(backing).first { lstatOrNil(backing + "/" + $0).map { UInt64($0.st_ino) } == ino })
        let b = try readFile(backing + "/" + name)
        XCTAssertGreaterThanOrEqual(b.count, 12)
        return b[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    func testRotateReachesTheDaemonOfItsOwnBackingDirectory() throws {
        try writeFile("\(m)/before", "written before the copy")
        vol.unmount()
        // The copy: same tdefs.conf, so the same volume ID; a directory of its own.
        let copy = TestVolume(bin: vol.bin, prefix: "tdefs-copy")
        defer { copy.destroy() }
        XCTAssertEqual(runCommand("/bin/rm", ["-rf", copy.backing]).status, 0)
        XCTAssertEqual(runCommand("/bin/cp", ["-a", vol.backing, copy.backing]).status, 0)
        XCTAssertEqual(runCommand("/bin/cp", [vol.keyFile, copy.keyFile]).status, 0)
        try vol.mount()
        try copy.mount()  // second: before, its daemon took over production's socket
        let r = vol.tdefs(["rotate", m, "--key-file", vol.keyFile])
        XCTAssertEqual(r.status, 0, r.summary)
        // Production's daemon got epoch 2 (new files use it); the copy's did not.
        try writeFile("\(m)/after", "written after the rotation")
        try writeFile("\(copy.mnt)/in-copy", "written in the copy")
        let after = UInt64(try XCTUnwrap(statOrNil("\(m)/after")).st_ino)
        let inCopy = UInt64(try XCTUnwrap(statOrNil("\(copy.mnt)/in-copy")).st_ino)
        vol.unmount()
        copy.unmount()
        XCTAssertEqual(try headerEpoch(backing: vol.backing, inode: after), 2, "production's daemon makes new files under epoch 2")
        XCTAssertEqual(try headerEpoch(backing: copy.backing, inode: inCopy), 1, "the copy's daemon never saw epoch 2")
        XCTAssertEqual(vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile]).status, 0)
        XCTAssertEqual(copy.tdefs(["fsck", copy.backing, "--key-file", copy.keyFile]).status, 0)
    }

    /// The daemon records its nonce in tdefs.lock; status through the CLI names that daemon.
    func testStatusTalksToTheDaemonNamedInTheLockFile() throws {
        let nonce = String(decoding: try readFile(vol.backing + "/tdefs.lock"), as: UTF8.self)
        XCTAssertEqual(nonce.count, 23, "22 base64url characters and a newline: \(nonce)")
        // Another nonce in the lock file (a stale or planted one): the daemon is not the one named.
        try writeFile(vol.backing + "/tdefs.lock", "AAAAAAAAAAAAAAAAAAAAAA\n", mode: 0o600)
        let r = vol.tdefs(["rotate", m, "--key-file", vol.keyFile])
        XCTAssertNotEqual(r.status, 0, "no daemon named by tdefs.lock answers: \(r.summary)")
        XCTAssertTrue(vol.daemonLog().contains("refused a control request for daemon"), vol.daemonLog())
        try writeFile(vol.backing + "/tdefs.lock", nonce, mode: 0o600)
        let again = vol.tdefs(["rotate", m, "--key-file", vol.keyFile])
        XCTAssertEqual(again.status, 0, again.summary)
    }
}
