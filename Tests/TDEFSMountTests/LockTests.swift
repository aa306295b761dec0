import XCTest
import Foundation
import Glibc

/// `tdefs lock MOUNTPOINT`: the daemon records the event, stops and drops its keys; the mount
/// stays in place and every access fails with ENOTCONN (nothing reaches the directory under it);
/// what was fsynced before is intact after unmount and a new mount, and fsck finds the backing
/// directory clean.
final class LockTests: XCTestCase {
    var vol: TestVolume!

    override func setUpWithError() throws {
        vol = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-lock")
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
    }

    func testLockLeavesADeadMountAndAConsistentVolume() throws {
        let audit = ["TDEFS_AUDIT_FILE": vol.base + "/audit.jsonl"]
        try vol.initVolume(env: audit)
        try vol.mount(env: audit)
        try writeFile(vol.mnt + "/committed", [UInt8](repeating: 0x43, count: 3 * 4096 + 17))
        let fd = open(vol.mnt + "/committed", O_RDONLY)
        XCTAssertEqual(fsync(fd), 0)
        close(fd)
        // A file the database keeps open across the lock.
        let open_ = open(vol.mnt + "/wal", O_CREAT | O_RDWR, 0o600)
        XCTAssertGreaterThanOrEqual(open_, 0)
        XCTAssertEqual(write(open_, "before", 6), 6)
        XCTAssertEqual(fsync(open_), 0)

        let r = vol.tdefs(["lock", vol.mnt], env: audit)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stdout.contains("locked \(vol.mnt)"), r.stdout)
        XCTAssertTrue(isMounted(vol.mnt), "the mount stays in place")
        XCTAssertEqual(errnoOf { var st = stat(); return stat(vol.mnt + "/committed", &st) }, ENOTCONN)
        // A write into an open file may still land in the kernel's page cache; its fsync fails.
        _ = write(open_, "after", 5)
        XCTAssertTrue([ENOTCONN, EIO].contains(errnoOf { fsync(open_) }), "the database's next fsync fails")
        close(open_)
        XCTAssertEqual(errnoOf { creat(vol.mnt + "/new", 0o600) }, ENOTCONN, "nothing is created under the mountpoint")
        XCTAssertEqual(vol.tdefs(["lock", vol.mnt]).status, 1, "a locked mount has no daemon to ask")
        let events = try String(contentsOfFile: vol.base + "/audit.jsonl", encoding: .utf8)
        XCTAssertTrue(events.contains("\"event\":\"lock\""), events)

        vol.unmount()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: vol.mnt), [], "nothing reached the mountpoint directory")
        let fsck = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(fsck.status, 0, fsck.summary)
        try vol.mount()
        XCTAssertEqual(try readFile(vol.mnt + "/committed"), [UInt8](repeating: 0x43, count: 3 * 4096 + 17))
        XCTAssertEqual(try readFile(vol.mnt + "/wal"), Array("before".utf8))
    }

    func testLockOfAPathThatIsNotAMountIsExit14() throws {
        XCTAssertEqual(vol.tdefs(["lock", vol.mnt]).status, 14)
    }
}
