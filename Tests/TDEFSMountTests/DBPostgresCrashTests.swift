import XCTest
import Foundation
import Glibc

/// Issue #3, item 2: clients record every transaction the server acknowledged; at a random moment
/// the postmaster (with all its processes) and the tdefs daemon are killed with SIGKILL; the volume
/// is remounted, the server restarted, and every acknowledged transaction must be there, with
/// pg_amcheck clean. TDEFS_DB_CRASH_CYCLES (default 5) cycles; TDEFS_DB_SEED replays the moments.
final class DBPostgresCrashTests: XCTestCase {
    func testAcknowledgedTransactionsSurviveSIGKILLOfServerAndDaemon() throws {
        let env = ProcessInfo.processInfo.environment
        let cycles = Int(env["TDEFS_DB_CRASH_CYCLES"] ?? "") ?? 5
        let seed = DB.seed("DBPostgresCrashTests")
        var rng = SeededRNG(seed: seed)

        let dv = try DBVolume(prefix: "tdefs-DBPostgresCrash")
        defer { dv.destroy() }
        try DB.makeDir(dv.mnt + "/pg", owner: "postgres", mode: 0o700)
        let pg = PGCluster(dataDir: dv.mnt + "/pg/data", socketDir: dv.base + "/sock", logFile: dv.base + "/pg.log")
        try pg.initdb(extraConf: ["checkpoint_timeout = 30s", "max_wal_size = 64MB"])
        try pg.start()
        var running = true
        defer { if running { pg.crash() } }
        try pg.psql("CREATE TABLE acks (id bigint PRIMARY KEY, client int NOT NULL, pad text NOT NULL)")
        let pgbench = try DB.pg("pgbench")
        try DB.must(as: "postgres", pgbench, pg.connArgs + ["-i", "-s", "5", "-q", "postgres"])

        // One script per client: an INSERT ... RETURNING per line, in autocommit; psql prints the id
        // of each insert the server acknowledged (committed). :base makes ids unique per cycle.
        let clients = 4
        var scripts = [String]()
        for c in 0..<clients {
            let path = dv.base + "/client\(c).sql"
            var text = ""
            text.reserveCapacity(100_000 * 80)
            for i in 0..<100_000 {
                text += "INSERT INTO acks VALUES (:base + \(i), \(c), repeat('p', \(100 + i % 300))) RETURNING id;\n"
            }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o644)
            scripts.append(path)
        }

        var allAcked = Set<Int64>()
        var moments = [Double]()
        for cycle in 0..<cycles {
            var workers = [Background]()
            for c in 0..<clients {
                let base = Int64(cycle) * 100_000_000 + Int64(c) * 10_000_000
                workers.append(try Background(try DB.pg("psql"), ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", "base=\(base)"]
                                              + pg.connArgs + ["-d", "postgres", "-f", scripts[c]], as: "postgres"))
            }
            // A pgbench load beside them: updates, WAL and dirty buffers in the shared pool.
            let bench = try Background(pgbench, pg.connArgs + ["-c", "2", "-j", "1", "-T", "300", "postgres"], as: "postgres")
            let moment = Double.random(in: 0.5...8.0, using: &rng)
            let checkpointFirst = Bool.random(using: &rng)
            moments.append(moment)
            var checkpoint: Background?
            if checkpointFirst {
                DB.sleep(moment * 0.7)
                checkpoint = try Background(try DB.pg("psql"), ["-X", "-q"] + pg.connArgs + ["-c", "CHECKPOINT"], as: "postgres")
                DB.sleep(moment * 0.3)
            } else {
                DB.sleep(moment)
            }
            // The power-cut moment: the daemon and every postgres process, SIGKILL.
            let daemon = DB.daemonPID(backing: dv.vol.backing)
            XCTAssertNotNil(daemon, "no tdefs daemon holds the volume lock")
            if let daemon { kill(daemon, SIGKILL) }
            pg.crash()
            running = false
            for w in workers { if w.wait(timeout: 60) == nil { w.signal(SIGKILL); w.wait() } }
            if bench.wait(timeout: 60) == nil { bench.signal(SIGKILL); bench.wait() }
            if let checkpoint, checkpoint.wait(timeout: 60) == nil { checkpoint.signal(SIGKILL); checkpoint.wait() }
            var acked = 0
            for w in workers {
                for line in w.stdoutText.split(separator: "\n") {
                    guard let id = Int64(line) else { XCTFail("unexpected psql output: \(line)"); continue }
                    allAcked.insert(id)
                    acked += 1
                }
            }
            try DB.crashDaemon(dv.vol)
            try dv.mount()
            let t0 = DB.now()
            try pg.start()
            running = true
            let recovery = DB.now() - t0
            let present = Set(try pg.psql("SELECT id FROM acks").split(separator: "\n").compactMap { Int64($0) })
            let missing = allAcked.subtracting(present)
            XCTAssertTrue(missing.isEmpty, "cycle \(cycle) (seed \(seed)): \(missing.count) acknowledged transactions lost, e.g. \(missing.sorted().prefix(10))")
            _ = try pg.amcheck()
            print("db figure: crash cycle \(cycle + 1)/\(cycles): killed at \(String(format: "%.2f", moment)) s"
                  + (checkpointFirst ? " (during a CHECKPOINT)" : "") + ", \(acked) inserts acknowledged this cycle, "
                  + "\(allAcked.count) in all, \(present.count) rows present, recovery+start \(String(format: "%.1f", recovery)) s, amcheck clean")
            if !missing.isEmpty { break }
        }
        XCTAssertGreaterThan(allAcked.count, 0, "no transaction was acknowledged at all")
        try pg.stop()
        running = false
        _ = try pg.checksums()
        try dv.unmount()
        try dv.fsck()
        print("db figure: \(cycles) crash cycles at \(moments.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s; "
              + "\(allAcked.count) acknowledged inserts, none lost; pg_checksums and tdefs fsck clean")
    }
}
