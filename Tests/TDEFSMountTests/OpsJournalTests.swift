import Foundation
import Glibc
import XCTest

/// A background `tdefs mount` logs to the systemd journal by default, with the fields of a damaged
/// extent (path, extent, errno) as journal fields of their own. The journal is a real
/// systemd-journald, started by the test in a journal namespace of its own, and read back with
/// journalctl; tdefs is pointed at that namespace's socket with $TDEFS_JOURNAL_SOCKET.
final class OpsJournalTests: XCTestCase {
    var vol: TestVolume!
    var journal: JournalNamespace?

    override func setUpWithError() throws {
        try super.setUpWithError()
        let bin = try Harness.requireMountable(needsRoot: true)
        vol = TestVolume(bin: bin, prefix: "tdefs-OpsJournal")
        try vol.initVolume()
        journal = try JournalNamespace(tag: "test", directory: vol.base)
    }

    override func tearDown() {
        vol?.destroy()
        journal?.stop()
        journal = nil
        vol = nil
        super.tearDown()
    }

    /// tdefs's entries in the namespace, as journalctl's JSON objects.
    func entries() throws -> [[String: Any]] { try XCTUnwrap(journal).entries("SYSLOG_IDENTIFIER=tdefs") }

    func testBackgroundMountLogsToTheJournalWithDamagedExtentFields() throws {
        let env = try XCTUnwrap(journal).environment
        let m1 = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile], env: env)
        XCTAssertEqual(m1.status, 0, m1.summary)
        try writeFile(vol.mnt + "/table.dat", [UInt8](repeating: 0x61, count: 3 * 4096))
        vol.unmount()

        // Damage extent 1 of the file (the only backing file of 3 extents).
        try damageExtent(1, ofTheFileWith: 3, in: vol.backing)

        let m2 = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile], env: env)
        XCTAssertEqual(m2.status, 0, m2.summary)
        let f = open(vol.mnt + "/table.dat", O_RDONLY)
        try check(f, "open")
        _ = posix_fadvise(f, 0, 0, POSIX_FADV_RANDOM)
        XCTAssertEqual(preadBytes(f, count: 4096, at: 4096).errno, EIO)
        close(f)
        vol.unmount()

        let all = try entries()
        let messages = all.compactMap { $0["MESSAGE"] as? String }
        XCTAssertTrue(messages.contains { $0.hasPrefix("\(vol.backing): mounted on \(vol.mnt)") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.hasPrefix("\(vol.backing): unmounted from \(vol.mnt)") }, "\(messages)")
        let damaged = try XCTUnwrap(all.first { ($0["MESSAGE"] as? String)?.contains("damaged extent") == true },
                                    "no damaged-extent entry in \(messages)")
        XCTAssertEqual(damaged["TDEFS_PATH"] as? String, "/table.dat")
        XCTAssertEqual(damaged["TDEFS_EXTENT"] as? String, "1")
        XCTAssertEqual(damaged["ERRNO"] as? String, "\(EIO)")
        XCTAssertEqual(damaged["PRIORITY"] as? String, "3")
        XCTAssertEqual(damaged["TDEFS_VOLUME"] as? String, vol.backing)
        XCTAssertEqual(damaged["_TRANSPORT"] as? String, "journal", "sent through the native socket")
        // Nothing went to a log file: none was asked for.
        XCTAssertEqual(access(vol.logFile, F_OK), -1)
    }
}
