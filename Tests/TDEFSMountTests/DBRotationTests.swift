import Foundation
import Glibc
import XCTest

/// Issue #4, item 7: rotate and rotate --reencrypt while pgbench runs against PostgreSQL on the
/// mount: zero client errors, the data intact, pg_amcheck and pg_checksums clean, and every file's
/// header under the final epoch.
final class DBRotationTests: XCTestCase {
    func testRotateAndReencryptUnderLivePgbench() throws {
        let dv = try DBVolume(prefix: "tdefs-DBRotation")
        defer { dv.destroy() }
        try DB.makeDir(dv.mnt + "/pg", owner: "postgres", mode: 0o700)
        let pg = PGCluster(dataDir: dv.mnt + "/pg/data", socketDir: dv.base + "/sock", logFile: dv.base + "/pg.log")
        try pg.initdb()
        try pg.start()
        var started = true
        defer { if started { try? pg.stop(mode: "immediate") } }
        let pgbench = try DB.pg("pgbench")
        _ = try DB.must(as: "postgres", pgbench, pg.connArgs + ["-i", "-s", "10", "-q", "postgres"])
        let balanceBefore = try pg.psql("SELECT sum(abalance) FROM pgbench_accounts")

        // pgbench for long enough to cover both rotations; every transaction must succeed.
        let load = try Background(pgbench, pg.connArgs + ["-c", "4", "-j", "2", "-T", "40", "postgres"], as: "postgres")
        DB.sleep(3)
        let key = ["--key-file", dv.vol.keyFile]
        let rotate = dv.vol.tdefs(["rotate", dv.mnt] + key)
        XCTAssertEqual(rotate.status, 0, rotate.summary)
        let t0 = DB.now()
        let reencrypt = dv.vol.tdefs(["rotate", dv.mnt] + key + ["--reencrypt"])
        XCTAssertEqual(reencrypt.status, 0, reencrypt.summary)
        print("db figure: rotate --reencrypt under pgbench took \(String(format: "%.1f", DB.now() - t0)) s")
        XCTAssertTrue(load.running, "the rotations finished while pgbench was still running")
        XCTAssertEqual(load.wait(), 0, "pgbench failed: \(load.stdoutText)")
        let out = load.stdoutText
        if let failed = out.split(separator: "\n").first(where: { $0.contains("number of failed transactions") }) {
            XCTAssertTrue(failed.contains(": 0 "), String(failed))
        }
        XCTAssertFalse(DB.readFile(load.stderrPath).lowercased().contains("error"), DB.readFile(load.stderrPath))
        print("db figure: pgbench during rotation: " + (out.split(separator: "\n").first { $0.hasPrefix("tps") }.map(String.init) ?? "?"))

        // pgbench's transactions move money between accounts, tellers and branches; the
        // branches' total always equals the accounts' total change.
        let accounts = try pg.psql("SELECT sum(abalance) FROM pgbench_accounts")
        let branches = try pg.psql("SELECT sum(bbalance) FROM pgbench_branches")
        XCTAssertEqual(Int(accounts), Int(branches), "balances agree (before: \(balanceBefore))")
        _ = try pg.amcheck()
        try pg.stop()
        started = false
        let report = try pg.checksums()
        XCTAssertTrue(report.contains("Bad checksums:  0"), report)

        let status = dv.vol.tdefs(["status", dv.vol.backing, "--json"])
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["currentEpoch"] as? Int, 3)
        for e in try XCTUnwrap(obj["epochs"] as? [[String: Any]]) where e["epoch"] as? Int != 3 {
            XCTAssertEqual(e["files"] as? Int, 0, "epoch \(e["epoch"] ?? "?") still has files")
        }
        try dv.unmount()
        try dv.fsck()
        XCTAssertEqual(dv.vol.tdefs(["retire", dv.vol.backing] + key + ["--epoch", "1"]).status, 0)
        XCTAssertEqual(dv.vol.tdefs(["retire", dv.vol.backing] + key + ["--epoch", "2"]).status, 0)
        try dv.mount()
        try pg.start()
        started = true
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM pgbench_accounts"), "1000000")
    }
}
