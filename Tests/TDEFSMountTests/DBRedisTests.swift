import XCTest
import Foundation
import Glibc

/// Issue #3, item 6: Redis (Debian's redis-server 7.0) as the redis user on a tdefs mount, with
/// appendonly yes and appendfsync always plus an RDB snapshot. 20,000 keys go in before a SAVE and
/// 10,000 after it; an INCR loop runs while Redis and the tdefs daemon are SIGKILLed together. After
/// a remount and restart every key is there, the counter is at least its last acknowledged value,
/// redis-check-aof and redis-check-rdb pass, and the RDB alone restores the keys it holds.
final class DBRedisTests: XCTestCase {
    func testAppendOnlyAlwaysAndSnapshotSurviveSIGKILL() throws {
        let server = try DB.tool("/usr/bin/redis-server")
        let cli = try DB.tool("/usr/bin/redis-cli")
        let checkAOF = try DB.tool("/usr/bin/redis-check-aof")
        let checkRDB = try DB.tool("/usr/bin/redis-check-rdb")
        let seed = DB.seed("DBRedisTests")
        var rng = SeededRNG(seed: seed)
        let dv = try DBVolume(prefix: "tdefs-DBRedis")
        defer { dv.destroy() }
        let dataDir = dv.mnt + "/redis"
        let sockDir = dv.base + "/redis-sock"
        try DB.makeDir(dataDir, owner: "redis", mode: 0o750)
        try DB.makeDir(sockDir, owner: "redis", mode: 0o755)
        let sock = sockDir + "/redis.sock"
        let logFile = dv.base + "/redis.log"
        try DB.makeFile(logFile, owner: "redis")

        var redis: Background?
        defer { redis?.signal(SIGKILL); redis?.wait() }
        func start(appendonly: Bool = true) throws -> Background {
            unlink(sock)
            let b = try Background(server, ["--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
                                            "--dir", dataDir, "--appendonly", appendonly ? "yes" : "no", "--appendfsync", "always",
                                            "--save", "", "--daemonize", "no", "--logfile", logFile], as: "redis")
            try DB.wait(60, "redis to answer on \(sock)") {
                DB.run(as: nil, cli, ["-s", sock, "PING"]).stdout.contains("PONG") || !b.running
            }
            guard b.running else { throw HarnessError("redis-server exited: \(DB.readFile(logFile).suffix(3000))") }
            return b
        }
        @discardableResult func redisCLI(_ args: [String], stdin: String? = nil) throws -> String {
            let r = stdin == nil ? DB.run(as: nil, cli, ["-s", sock] + args)
                : DB.run(as: nil, "/bin/sh", ["-c", "exec \"$0\" \"$@\" < \"$STDIN_FILE\"", cli, "-s", sock] + args, env: ["STDIN_FILE": stdin!])
            guard r.status == 0 else { throw HarnessError("redis-cli \(args) failed: \(r.summary)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func massInsert(_ range: ClosedRange<Int>) throws {
            let path = dv.base + "/cmds-\(range.lowerBound)"
            var text = ""
            for i in range { text += "SET k:\(i) v\(i)-\(String(repeating: "x", count: i % 200))\n" }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let out = try redisCLI(["--pipe"], stdin: path)
            XCTAssertTrue(out.contains("errors: 0, replies: \(range.count)"), out)
        }
        let verifyScript = "local bad = 0 for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do "
            + "local v = redis.call('GET', 'k:' .. i) if v ~= ('v' .. i .. '-' .. string.rep('x', i % 200)) then bad = bad + 1 end end return bad"

        redis = try start()
        XCTAssertEqual(try redisCLI(["CONFIG", "GET", "appendfsync"]), "appendfsync\nalways")
        try massInsert(1...20_000)
        XCTAssertEqual(try redisCLI(["SAVE"]), "OK")
        try massInsert(20_001...30_000)
        try redisCLI(["HSET", "h", "a", "1", "b", "2"])
        XCTAssertEqual(try redisCLI(["DBSIZE"]), "30001")

        // An INCR loop (each printed reply was acknowledged after its fsync), killed at a random moment
        // together with the tdefs daemon.
        let incr = try Background(cli, ["-s", sock, "-r", "10000000", "INCR", "counter"])
        DB.sleep(Double.random(in: 0.5...3.0, using: &rng))
        let daemon = DB.daemonPID(backing: dv.vol.backing)
        XCTAssertNotNil(daemon)
        if let daemon { kill(daemon, SIGKILL) }
        redis?.signal(SIGKILL)
        redis?.wait()
        redis = nil
        if incr.wait(timeout: 30) == nil { incr.signal(SIGKILL); incr.wait() }
        let acked = incr.stdoutText.split(separator: "\n").compactMap { Int($0) }.max() ?? 0
        XCTAssertGreaterThan(acked, 0, "no INCR was acknowledged: \(incr.stdoutText.prefix(300)) \(incr.stderrText.prefix(300))")
        try DB.crashDaemon(dv.vol)
        try dv.fsck()
        try dv.mount()

        // The files themselves check out.
        let aofDir = dataDir + "/appendonlydir"
        let manifest = (try? FileManager.default.contentsOfDirectory(atPath: aofDir))?.first { $0.hasSuffix(".manifest") }
        XCTAssertNotNil(manifest, "no AOF manifest in \(aofDir)")
        if let manifest {
            let r = DB.run(as: nil, checkAOF, [aofDir + "/" + manifest])
            XCTAssertEqual(r.status, 0, r.summary)
            XCTAssertTrue(r.stdout.contains("is valid"), r.summary)
        }
        let rdb = DB.run(as: nil, checkRDB, [dataDir + "/dump.rdb"])
        XCTAssertEqual(rdb.status, 0, rdb.summary)

        redis = try start()
        XCTAssertEqual(try redisCLI(["DBSIZE"]), "30002")
        XCTAssertEqual(try redisCLI(["EVAL", verifyScript, "0", "1", "30000"]), "0")
        XCTAssertEqual(try redisCLI(["HGET", "h", "b"]), "2")
        let counter = Int(try redisCLI(["GET", "counter"])) ?? -1
        XCTAssertGreaterThanOrEqual(counter, acked, "acknowledged INCRs were lost")
        print("db figure: redis: 30,000 keys (20,000 before SAVE), INCR acknowledged up to \(acked), after SIGKILL of redis and "
              + "the tdefs daemon and a remount: 30,002 keys, counter \(counter), redis-check-aof and redis-check-rdb valid")
        try redisCLI(["SHUTDOWN", "NOSAVE"])
        _ = redis?.wait(timeout: 30)
        redis = nil

        // The RDB snapshot alone (appendonly no) restores the 20,000 keys it was taken with.
        redis = try start(appendonly: false)
        XCTAssertEqual(try redisCLI(["DBSIZE"]), "20000")
        XCTAssertEqual(try redisCLI(["EVAL", verifyScript, "0", "1", "20000"]), "0")
        try redisCLI(["SHUTDOWN", "NOSAVE"])
        _ = redis?.wait(timeout: 30)
        redis = nil
        try dv.unmount()
        try dv.fsck()
    }
}
