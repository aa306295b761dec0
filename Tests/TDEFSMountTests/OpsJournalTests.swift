import Foundation
import Glibc
import XCTest

/// A background `tdefs mount` logs to the systemd journal by default, with the fields of a damaged
/// extent (path, extent, errno) as journal fields of their own. The journal is a real
/// systemd-journald, started by the test in a journal namespace of its own, and read back with
/// journalctl; tdefs is pointed at that namespace's socket with $TDEFS_JOURNAL_SOCKET.
final class OpsJournalTests: XCTestCase {
    var vol: TestVolume!
    var journald: Background?
    var namespace = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        let bin = try Harness.requireMountable(needsRoot: true)
        let candidates = ["/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald"]
        let journaldBin = try XCTUnwrap(candidates.first { (path: String) in access(path, X_OK) == 0 },
                                        "systemd-journald is needed (Debian's systemd)")
        vol = TestVolume(bin: bin, prefix: "tdefs-OpsJournal")
        try vol.initVolume()
        namespace = "tdefstest\(getpid())"
        let j = try Background(journaldBin, [namespace], stdout: vol.base + "/journald.log", stderr: vol.base + "/journald.log")
        journald = j
        try DB.wait(30, "journald to listen") { access(socketPath, F_OK) == 0 || !j.running }
        guard j.running else { throw HarnessError("journald exited: \(DB.readFile(vol.base + "/journald.log"))") }
    }

    override func tearDown() {
        vol?.destroy()
        if let journald {
            journald.signal(SIGTERM)
            if journald.wait(timeout: 30) == nil { journald.signal(SIGKILL); journald.wait() }
        }
        if !namespace.isEmpty {
            _ = runCommand("/bin/rm", ["-rf", "/run/systemd/journal.\(namespace)", "/run/log/journal/\(machineID()).\(namespace)",
                                       "/var/log/journal/\(machineID()).\(namespace)"])
        }
        journald = nil
        vol = nil
        super.tearDown()
    }

    var socketPath: String { "/run/systemd/journal.\(namespace)/socket" }

    func machineID() -> String {
        ((try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// tdefs's entries in the namespace, as journalctl's JSON objects.
    func entries() throws -> [[String: Any]] {
        let journalctl = try XCTUnwrap(Harness.which("journalctl"))
        _ = runCommand(journalctl, ["--namespace=\(namespace)", "--flush"])
        let r = runCommand(journalctl, ["--namespace=\(namespace)", "-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=tdefs"])
        XCTAssertEqual(r.status, 0, r.summary)
        return r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func testBackgroundMountLogsToTheJournalWithDamagedExtentFields() throws {
        let env = ["TDEFS_JOURNAL_SOCKET": socketPath]
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
