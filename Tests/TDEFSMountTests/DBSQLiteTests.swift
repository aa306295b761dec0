import XCTest
import Foundation
import Glibc

/// Issue #3, item 5: SQLite 3.40 (Debian's libsqlite3, through python3's sqlite3 module and the
/// sqlite3 CLI) on a tdefs mount. WAL mode (its -shm file is memory-mapped by every connection) and
/// rollback-journal mode, each with 4 processes reading and writing for 30 seconds, then
/// PRAGMA integrity_check; then a writer is SIGKILLed in the middle of a large transaction and
/// the database must be intact with every acknowledged commit present, also after a remount.
final class DBSQLiteTests: XCTestCase {
    var dv: DBVolume!

    override func setUpWithError() throws {
        _ = try DB.tool(DB.python)
        _ = try DB.tool("/usr/bin/sqlite3")
        dv = try DBVolume(prefix: "tdefs-DBSQLite")
    }

    override func tearDown() {
        dv?.destroy()
        dv = nil
    }

    var worker: String { DB.supportDir + "/sqlite_worker.py" }

    func testWALModeFourProcesses() throws { try exercise(mode: "wal") }

    func testRollbackJournalModeFourProcesses() throws { try exercise(mode: "delete") }

    private func exercise(mode: String) throws {
        let seconds = Double(ProcessInfo.processInfo.environment["TDEFS_DB_SQLITE_SECONDS"] ?? "") ?? 30
        let seed = DB.seed("DBSQLiteTests.\(mode)")
        var rng = SeededRNG(seed: seed)
        let dir = dv.mnt + "/sqlite-\(mode)"
        try DB.makeDir(dir)
        let db = dir + "/test.db"
        let r0 = DB.run(as: nil, DB.python, [worker, "init", db, mode])
        XCTAssertEqual(r0.status, 0, r0.summary)

        // 4 processes, each writing and reading, for `seconds`.
        var acks = [String]()
        var procs = [Background]()
        for w in 0..<4 {
            let ack = dv.base + "/acks-\(mode)-\(w)"
            acks.append(ack)
            procs.append(try Background(DB.python, [worker, "run", db, "\(w)", "\(seconds)", ack, "5"]))
        }
        if mode == "wal" {
            // The -shm file exists and is memory-mapped by the workers (SQLite removes it when the last
            // connection closes, so look while they run).
            DB.sleep(3)
            XCTAssertEqual(access(db + "-shm", F_OK), 0, "WAL mode without a -shm file")
            let mapped = procs.filter { DB.readFile("/proc/\($0.pid)/maps").contains(db + "-shm") }.count
            XCTAssertGreaterThan(mapped, 0, "no worker has the -shm file mapped")
            print("db figure: sqlite wal: \(mapped) of 4 workers have \(db)-shm memory-mapped")
        }
        var summary = [String]()
        for p in procs {
            let s = p.wait(timeout: seconds + 120) ?? { p.signal(SIGKILL); return p.wait() }()
            XCTAssertEqual(s, 0, "worker failed: \(p.stdoutText) \(p.stderrText)")
            summary.append(p.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        print("db figure: sqlite \(mode), 4 processes for \(Int(seconds)) s: " + summary.joined(separator: "; "))
        let ic = DB.run(as: nil, "/usr/bin/sqlite3", [db, "PRAGMA integrity_check;"])
        XCTAssertEqual(ic.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "ok", ic.summary)
        let c1 = DB.run(as: nil, DB.python, [worker, "check", db] + acks)
        XCTAssertEqual(c1.status, 0, c1.summary)
        print("db figure: sqlite \(mode) check after the load: \(c1.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")

        // SIGKILL of a writer in the middle of a large transaction (200 rows, ~300 KiB: the journal
        // or WAL spills to the file), while another writer keeps going.
        var kills = 0
        for round in 0..<3 {
            let victimAck = dv.base + "/acks-\(mode)-victim\(round)"
            let otherAck = dv.base + "/acks-\(mode)-other\(round)"
            acks += [victimAck, otherAck]
            let victim = try Background(DB.python, [worker, "run", db, "\(10 + round)", "60", victimAck, "200"])
            let other = try Background(DB.python, [worker, "run", db, "\(20 + round)", "4", otherAck, "3"])
            DB.sleep(Double.random(in: 0.3...2.5, using: &rng))
            victim.signal(SIGKILL)
            XCTAssertEqual(victim.wait(), 128 + SIGKILL)
            kills += 1
            XCTAssertEqual(other.wait(timeout: 120), 0, "the other writer failed: \(other.stderrText)")
            let c = DB.run(as: nil, DB.python, [worker, "check", db] + acks)
            XCTAssertEqual(c.status, 0, "after SIGKILL of a writer (round \(round), seed \(seed)): \(c.summary)")
        }

        // And after a remount (nothing cached in the daemon or the kernel), the same.
        try dv.unmount()
        try dv.fsck()
        try dv.mount()
        let c2 = DB.run(as: nil, DB.python, [worker, "check", db] + acks)
        XCTAssertEqual(c2.status, 0, c2.summary)
        let ic2 = DB.run(as: nil, "/usr/bin/sqlite3", [db, "PRAGMA integrity_check;"])
        XCTAssertEqual(ic2.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "ok", ic2.summary)
        print("db figure: sqlite \(mode): \(kills) writers SIGKILLed mid-transaction; after remount: \(c2.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
}
