import XCTest
import Foundation
import Glibc

/// Issue #3, item 3: power loss below tdefs. The backing directory is a mount of lazyfs
/// (Tests/Support/lazyfs.c, built here with cc and libfuse3), which keeps file data that was not
/// fsynced in memory and drops it on SIGUSR1, the "power cut"; namespace and metadata changes
/// reach the lower directory at once (LazyFS's default model). After a cut in the middle of a
/// workload, everything above is SIGKILLed, lazyfs is restarted with an empty cache on what was
/// synced, and: the volume mounts, tdefs fsck is clean (every name, header and extent checks),
/// every file reads without error, and every acknowledged step or transaction is there.
/// That holds only if tdefs passes fsync, fdatasync and directory fsync down, and its own
/// multi-step updates (directory IVs, long-name files, headers) are durable in the right order.
final class DBPowerLossTests: XCTestCase {
    var vol: TestVolume!
    var lazy: Background?
    var lazyBin = ""
    var lower: String { vol.base + "/lower" }
    var cutReport: String { vol.base + "/cut" }

    override func setUpWithError() throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        vol = TestVolume(bin: bin, prefix: "tdefs-DBPowerLoss")
        mkdir(lower, 0o755)
        lazyBin = try DB.buildLazyFS(into: vol.base)
        try startLazy()
    }

    override func tearDown() {
        if let vol {
            if isMounted(vol.mnt) { _ = runCommand("/usr/bin/fusermount3", ["-u", "-z", vol.mnt]) }
            stopLazy()
            vol.destroy()
        }
        vol = nil
    }

    /// lazyfs LOWER -> BACKING (the volume's backing path), with an empty cache.
    func startLazy() throws {
        unlink(cutReport)
        let b = try Background(lazyBin, [lower, vol.backing, cutReport, "-f"], stdout: vol.base + "/lazyfs.log", stderr: vol.base + "/lazyfs.log")
        lazy = b
        try DB.wait(30, "lazyfs to mount") { isMounted(vol.backing) || !b.running }
        guard b.running else { throw HarnessError("lazyfs exited: \(DB.readFile(vol.base + "/lazyfs.log"))") }
    }

    func stopLazy() {
        guard let l = lazy else { return }
        if isMounted(vol.backing) {
            if runCommand("/usr/bin/fusermount3", ["-u", vol.backing]).status != 0 {
                _ = runCommand("/usr/bin/fusermount3", ["-u", "-z", vol.backing])
            }
        }
        if l.wait(timeout: 30) == nil { l.signal(SIGKILL); l.wait() }
        lazy = nil
    }

    /// The power cut: lazyfs drops what was not synced and fails everything after; then the tdefs
    /// daemon (and `also`) are SIGKILLed, the dead mounts cleared, and lazyfs restarted.
    func powerCut(also kill: () -> Void) throws -> String {
        lazy?.signal(SIGUSR1)
        try DB.wait(30, "lazyfs to report the cut") { DB.readFile(cutReport).hasPrefix("cut ") }
        let report = DB.readFile(cutReport).trimmingCharacters(in: .whitespacesAndNewlines)
        if let d = DB.daemonPID(backing: vol.backing) { Glibc.kill(d, SIGKILL) }
        kill()
        try DB.crashDaemon(vol)
        stopLazy()
        try startLazy()
        return report
    }

    /// tdefs fsck after the cut: the only problems allowed are leftovers of the tdefs operation the
    /// cut interrupted (a temporary of a mkdir, an orphaned long-name file), which fsck marks
    /// repairable; `fsck --repair` removes them and a second fsck must be clean.
    func fsckClean() throws -> String {
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--json"])
        if r.status == 0 { return "clean" }
        guard r.status == 20, let data = r.stdout.data(using: .utf8),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let problems = obj["problems"] as? [[String: Any]] else {
            throw HarnessError("tdefs fsck after a power cut failed: \(r.summary)")
        }
        let harmful = problems.filter { ($0["repairable"] as? Bool) != true }
        guard harmful.isEmpty else { throw HarnessError("tdefs fsck after a power cut found damage: \(r.summary)") }
        let kinds = problems.compactMap { $0["kind"] as? String }
        let repair = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--repair"])
        XCTAssertEqual(repair.status, 0, repair.summary)
        let again = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        guard again.status == 0 else { throw HarnessError("tdefs fsck after --repair is not clean: \(again.summary)") }
        return "clean after --repair removed \(problems.count) leftover(s) of the interrupted operation (\(Set(kinds).sorted().joined(separator: ", ")))"
    }

    func readEverything() {
        let r = runCommand("/bin/sh", ["-c", "find \"$0\" -type f -print0 | xargs -0 -r cat > /dev/null", vol.mnt])
        XCTAssertEqual(r.status, 0, "a file does not read after the power cut: \(r.summary)")
    }

    /// Directories, short and long names, renames and hard links, each fsynced (file, then directory).
    func testNamespaceStepsSurvivePowerCut() throws {
        let seed = DB.seed("DBPowerLossTests.namespace")
        var rng = SeededRNG(seed: seed)
        try vol.initVolume()
        let workload = DB.supportDir + "/fsync_workload.py"
        for cycle in 0..<3 {
            try vol.mount(options: ["allow_other"])
            let root = vol.mnt + "/c\(cycle)"
            mkdir(root, 0o755)
            let ackFile = vol.base + "/acks\(cycle)"
            let w = try Background(DB.python, [workload, "run", root, "60"], stdout: ackFile)
            DB.sleep(Double.random(in: 1.0...4.0, using: &rng))
            let report = try powerCut { w.signal(SIGKILL); w.wait() }
            let fsck = try fsckClean()
            try vol.mount(options: ["allow_other"])
            // The directory made just before the cycle may itself be gone (it was not fsynced into
            // the root): then nothing was acknowledged in it either.
            let acks = DB.readFile(ackFile).split(separator: "\n").filter { $0.hasPrefix("ack ") }.count
            if acks > 0 || access(root, F_OK) == 0 {
                let c = DB.run(as: nil, DB.python, [workload, "check", root, ackFile])
                XCTAssertEqual(c.status, 0, "cycle \(cycle) (seed \(seed)): \(c.summary)")
                print("db figure: power cut \(cycle + 1)/3 (namespace): \(report) dropped; \(c.stdout.trimmingCharacters(in: .whitespacesAndNewlines)); fsck \(fsck)")
            }
            readEverything()
            vol.unmount()
        }
    }

    /// PostgreSQL with acknowledged inserts and a pgbench load, cut at random moments.
    func testPostgresAcknowledgedTransactionsSurvivePowerCut() throws {
        let seed = DB.seed("DBPowerLossTests.postgres")
        var rng = SeededRNG(seed: seed)
        try vol.initVolume()
        try vol.mount(options: ["allow_other"])
        chmod(vol.mnt, 0o755)
        try DB.makeDir(vol.mnt + "/pg", owner: "postgres", mode: 0o700)
        let pg = PGCluster(dataDir: vol.mnt + "/pg/data", socketDir: vol.base + "/sock", logFile: vol.base + "/pg.log")
        try pg.initdb()
        try pg.start()
        var running = true
        defer { if running { pg.crash() } }
        try pg.psql("CREATE TABLE acks (id bigint PRIMARY KEY, pad text NOT NULL)")
        try DB.must(as: "postgres", try DB.pg("pgbench"), pg.connArgs + ["-i", "-s", "2", "-q", "postgres"])
        let script = vol.base + "/acks.sql"
        var text = ""
        for i in 0..<50_000 { text += "INSERT INTO acks VALUES (:base + \(i), repeat('q', \(50 + i % 400))) RETURNING id;\n" }
        try text.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)
        var acked = Set<Int64>()
        let cycles = 3
        for cycle in 0..<cycles {
            let client = try Background(try DB.pg("psql"), ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", "base=\(cycle * 1_000_000)"]
                                        + pg.connArgs + ["-d", "postgres", "-f", script], as: "postgres")
            let bench = try Background(try DB.pg("pgbench"), pg.connArgs + ["-c", "2", "-T", "300", "postgres"], as: "postgres")
            let moment = Double.random(in: 2.0...8.0, using: &rng)
            DB.sleep(moment)
            let report = try powerCut {
                pg.crash()
                for b in [client, bench] { if b.wait(timeout: 60) == nil { b.signal(SIGKILL); b.wait() } }
            }
            running = false
            let now = client.stdoutText.split(separator: "\n").compactMap { Int64($0) }
            acked.formUnion(now)
            let fsck = try fsckClean()
            try vol.mount(options: ["allow_other"])
            readEverything()
            try pg.start()
            running = true
            let present = Set(try pg.psql("SELECT id FROM acks").split(separator: "\n").compactMap { Int64($0) })
            let missing = acked.subtracting(present)
            XCTAssertTrue(missing.isEmpty, "power cut \(cycle) (seed \(seed)): \(missing.count) acknowledged inserts lost, e.g. \(missing.sorted().prefix(10))")
            _ = try pg.amcheck()
            print("db figure: power cut \(cycle + 1)/\(cycles) (postgres) at \(String(format: "%.1f", moment)) s: \(report) dropped; "
                  + "\(now.count) inserts acknowledged this cycle, \(acked.count) in all, all present; amcheck clean; fsck \(fsck)")
            if !missing.isEmpty { break }
        }
        try pg.stop()
        running = false
        _ = try pg.checksums()
        vol.unmount()
    }
}
