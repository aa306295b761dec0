import XCTest
import Foundation
import Glibc

/// Issue #3, item 4: MariaDB 10.11 with its default InnoDB settings (innodb_flush_method O_DIRECT,
/// doublewrite, innodb_flush_log_at_trx_commit=1) on a tdefs mount, as the mysql user. sysbench's
/// oltp_write_only runs with 8 threads while a client records acknowledged autocommit inserts; at a
/// random moment mariadbd and the tdefs daemon are SIGKILLed; after a remount and restart, InnoDB
/// recovery is clean, every acknowledged insert is there and CHECK TABLE passes for every table.
final class DBMariaDBTests: XCTestCase {
    func testSysbenchWriteLoadSurvivesSIGKILL() throws {
        let mariadbd = try DB.tool("/usr/sbin/mariadbd")
        let installDB = try DB.tool("/usr/bin/mariadb-install-db")
        let client = try DB.tool("/usr/bin/mariadb")
        let sysbench = try DB.tool("/usr/bin/sysbench")
        let seed = DB.seed("DBMariaDBTests")
        var rng = SeededRNG(seed: seed)
        let dv = try DBVolume(prefix: "tdefs-DBMariaDB")
        defer { dv.destroy() }
        let dataDir = dv.mnt + "/mysql"
        try DB.makeDir(dataDir, owner: "mysql", mode: 0o750)
        let runDir = dv.base + "/mysqld"
        try DB.makeDir(runDir, owner: "mysql", mode: 0o755)
        let sock = runDir + "/mysqld.sock"
        let errLog = runDir + "/error.log"
        try DB.makeFile(errLog, owner: "mysql")

        try DB.must(as: nil, installDB, ["--no-defaults", "--datadir=\(dataDir)", "--user=mysql", "--skip-test-db",
                                          "--auth-root-authentication-method=socket"])
        var server: Background?
        defer { server?.signal(SIGKILL); server?.wait() }
        func start() throws -> Background {
            let b = try Background(mariadbd, ["--no-defaults", "--datadir=\(dataDir)", "--user=mysql", "--socket=\(sock)",
                                              "--skip-networking", "--pid-file=\(runDir)/mysqld.pid", "--log-error=\(errLog)"])
            try DB.wait(300, "mariadbd to answer on \(sock)") {
                DB.run(as: nil, client, ["-S", sock, "-u", "root", "-N", "-e", "SELECT 1"]).stdout.hasPrefix("1") || !b.running
            }
            guard b.running else { throw HarnessError("mariadbd exited: \(DB.readFile(errLog).suffix(4000))") }
            return b
        }
        @discardableResult
        func sql(_ q: String) throws -> String {
            let r = DB.run(as: nil, client, ["-S", sock, "-u", "root", "-N", "-B", "-e", q])
            guard r.status == 0 else { throw HarnessError("mariadb -e \(q) failed: \(r.summary)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        server = try start()
        XCTAssertEqual(try sql("SELECT @@innodb_flush_method"), "O_DIRECT")
        XCTAssertEqual(try sql("SELECT @@innodb_flush_log_at_trx_commit"), "1")
        try sql("CREATE DATABASE sbtest")
        try sql("CREATE TABLE sbtest.acks (id BIGINT PRIMARY KEY, pad VARCHAR(300) NOT NULL) ENGINE=InnoDB")
        let sb = ["--db-driver=mysql", "--mysql-socket=\(sock)", "--mysql-user=root", "--mysql-db=sbtest",
                  "--tables=4", "--table-size=20000"]
        var t0 = DB.now()
        try DB.must(as: nil, sysbench, ["oltp_write_only"] + sb + ["prepare"])
        print("db figure: mariadb sysbench prepare (4 tables x 20,000 rows) took \(String(format: "%.1f", DB.now() - t0)) s")

        // An acknowledged-insert client: each id printed by SELECT follows its committed INSERT.
        let script = dv.base + "/acks.sql"
        var text = ""
        for i in 1...200_000 { text += "INSERT INTO acks VALUES (\(i), REPEAT('m', \(50 + i % 250))); SELECT \(i);\n" }
        try text.write(toFile: script, atomically: true, encoding: .utf8)
        let acker = try Background(client, ["-S", sock, "-u", "root", "-N", "-B", "sbtest"], stdin: script)
        let load = try Background(sysbench, ["oltp_write_only"] + sb + ["--threads=8", "--time=120", "--report-interval=5", "run"])
        let moment = Double.random(in: 5...15, using: &rng)
        t0 = DB.now()
        DB.sleep(moment)
        let daemon = DB.daemonPID(backing: dv.vol.backing)
        XCTAssertNotNil(daemon)
        if let daemon { kill(daemon, SIGKILL) }
        server?.signal(SIGKILL)
        server?.wait()
        server = nil
        if load.wait(timeout: 60) == nil { load.signal(SIGKILL); load.wait() }
        if acker.wait(timeout: 60) == nil { acker.signal(SIGKILL); acker.wait() }
        let acked = acker.stdoutText.split(separator: "\n").compactMap { Int($0) }
        XCTAssertFalse(acked.isEmpty, "no insert was acknowledged: \(acker.stderrText)")
        let lastReport = load.stdoutText.split(separator: "\n").last { $0.contains("tps:") }.map(String.init) ?? "?"
        try DB.crashDaemon(dv.vol)
        try dv.fsck()
        try dv.mount()

        let logBefore = DB.readFile(errLog).count
        t0 = DB.now()
        server = try start()
        let recovery = DB.now() - t0
        let recoveryLog = String(DB.readFile(errLog).dropFirst(logBefore))
        XCTAssertFalse(recoveryLog.contains("[ERROR]"), "errors in InnoDB recovery:\n\(recoveryLog)")
        XCTAssertFalse(recoveryLog.lowercased().contains("corrupt"), recoveryLog)
        let present = Set(try sql("SELECT id FROM sbtest.acks").split(separator: "\n").compactMap { Int($0) })
        let missing = Set(acked).subtracting(present)
        XCTAssertTrue(missing.isEmpty, "\(missing.count) acknowledged inserts lost (seed \(seed)), e.g. \(missing.sorted().prefix(10))")
        for table in ["sbtest1", "sbtest2", "sbtest3", "sbtest4", "acks"] {
            let check = try sql("CHECK TABLE sbtest.\(table) EXTENDED")
            XCTAssertTrue(check.hasSuffix("status\tOK"), "CHECK TABLE \(table): \(check)")
        }
        let checkAll = DB.run(as: nil, try DB.tool("/usr/bin/mariadb-check"), ["-S", sock, "-u", "root", "--all-databases", "--extended"])
        XCTAssertEqual(checkAll.status, 0, checkAll.summary)
        XCTAssertFalse(checkAll.stdout.contains("error"), checkAll.stdout)
        print("db figure: mariadb: oltp_write_only 8 threads, killed at \(String(format: "%.1f", moment)) s (last report: \(lastReport)); "
              + "\(acked.count) acknowledged inserts, all present; recovery+start \(String(format: "%.1f", recovery)) s; CHECK TABLE OK")
        try DB.must(as: nil, try DB.tool("/usr/bin/mariadb-admin"), ["-S", sock, "-u", "root", "shutdown"])
        _ = server?.wait(timeout: 120)
        server = nil
        try dv.unmount()
        try dv.fsck()
    }
}
