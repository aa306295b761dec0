import XCTest
import Foundation
import Glibc

/// Issue #3, item 1: PostgreSQL 15 with data checksums on a tdefs mount, pgbench -i -s 50, then 8
/// clients for 60 seconds without an error; pg_amcheck --all clean, and pg_checksums --check clean
/// with the server stopped. Figures are printed as "db figure:" lines (quoted in docs/databases.md).
final class DBPostgresTests: XCTestCase {
    func testPgbenchScale50EightClients60Seconds() throws {
        let dv = try DBVolume(prefix: "tdefs-DBPostgres")
        defer { dv.destroy() }
        try DB.makeDir(dv.mnt + "/pg", owner: "postgres", mode: 0o700)
        let pg = PGCluster(dataDir: dv.mnt + "/pg/data", socketDir: dv.base + "/sock", logFile: dv.base + "/pg.log")
        try pg.initdb()
        try pg.start()
        var started = true
        defer { if started { try? pg.stop(mode: "immediate") } }
        XCTAssertEqual(try pg.psql("SHOW data_checksums"), "on")

        let pgbench = try DB.pg("pgbench")
        var t0 = DB.now()
        let initRun = try DB.must(as: "postgres", pgbench, pg.connArgs + ["-i", "-s", "50", "-q", "postgres"])
        let initSeconds = DB.now() - t0
        print("db figure: pgbench -i -s 50 took \(String(format: "%.1f", initSeconds)) s")
        XCTAssertFalse(initRun.stderr.contains("ERROR"), initRun.stderr)

        t0 = DB.now()
        let r = DB.run(as: "postgres", pgbench, pg.connArgs + ["-c", "8", "-j", "2", "-T", "60", "-P", "10", "postgres"])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertFalse(r.stderr.contains("error"), "pgbench reported an error: \(r.stderr)")
        let tps = r.stdout.split(separator: "\n").first { $0.hasPrefix("tps") }.map(String.init) ?? "?"
        let tx = r.stdout.split(separator: "\n").first { $0.contains("number of transactions actually processed") }.map(String.init) ?? "?"
        let failed = r.stdout.split(separator: "\n").first { $0.contains("number of failed transactions") }.map(String.init)
        print("db figure: pgbench -c 8 -j 2 -T 60: \(tps); \(tx)")
        if let failed { XCTAssertTrue(failed.contains(": 0 "), failed) }
        let rows = try pg.psql("SELECT count(*) FROM pgbench_accounts")
        XCTAssertEqual(rows, "5000000")

        t0 = DB.now()
        _ = try pg.amcheck()
        print("db figure: pg_amcheck --all --heapallindexed --parent-check clean in \(String(format: "%.1f", DB.now() - t0)) s")

        try pg.stop()
        started = false
        t0 = DB.now()
        let report = try pg.checksums()
        print("db figure: pg_checksums --check clean in \(String(format: "%.1f", DB.now() - t0)) s: "
              + report.split(separator: "\n").filter { $0.contains("scanned") || $0.contains("Bad") }.joined(separator: "; "))
        XCTAssertTrue(report.contains("Bad checksums:  0"), report)

        let du = runCommand("/usr/bin/du", ["-sh", dv.vol.backing]).stdout
        print("db figure: backing directory size \(du.split(separator: "\t").first ?? "?")")
        try dv.unmount()
        try dv.fsck()
    }
}
