import XCTest
import TDEFSTestSupport
import Foundation
import Glibc
import CPlatform

/// `tdefs mount -o metrics=...`: the daemon serves its counters in the Prometheus text format on a
/// Unix socket or a loopback port, and they follow what happens on the mount.
final class MetricsTests: XCTestCase {
    var vol: TestVolume!
    var socketPath: String { vol.base + "/metrics.sock" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        vol = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-MetricsTests")
        try vol.initVolume()
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
        super.tearDown()
    }

    func scrape() throws -> Scrape { try Scrape.of(unix: socketPath) }

    func testCountersFollowTheMount() throws {
        try vol.mount(options: ["metrics=\(socketPath)"])
        let m = vol.mnt
        let first = try scrape()
        XCTAssertEqual(first["tdefs_mounted"], 1, first.text)
        XCTAssertEqual(first["tdefs_key_epoch"], 1)
        XCTAssertEqual(first["tdefs_rotation_in_progress"], 0)
        XCTAssertEqual(first.sum("tdefs_authentication_failures_total"), 0)
        var st = stat()
        XCTAssertEqual(stat(socketPath, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "the socket is the daemon user's only")

        // Writes: every byte reaches the daemon by the time fsync returns.
        let data = [UInt8]((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let fd = open("\(m)/data.bin", O_CREAT | O_WRONLY, 0o644)
        try check(fd, "create")
        try writeAll(fd, data, at: 0)
        try check(fsync(fd), "fsync")
        let whileOpen = try scrape()
        XCTAssertGreaterThanOrEqual(whileOpen["tdefs_open_files"] ?? 0, 1, "the handle is counted")
        close(fd)
        let afterWrite = try scrape()
        XCTAssertGreaterThanOrEqual(afterWrite["tdefs_written_bytes_total"] ?? 0, Double(data.count))
        XCTAssertGreaterThanOrEqual(afterWrite[#"tdefs_requests_total{op="create"}"#] ?? 0, 1)
        XCTAssertGreaterThanOrEqual(afterWrite[#"tdefs_requests_total{op="write"}"#] ?? 0, 1)
        XCTAssertEqual(afterWrite[#"tdefs_request_duration_seconds_count{op="write"}"#],
                       afterWrite[#"tdefs_requests_total{op="write"}"#], "every request is in its histogram")
        XCTAssertTrue(try eventually { try scrape()["tdefs_open_files"] == 0 }, "the release is counted")

        // Reads with O_DIRECT go to the daemon, not the page cache.
        let before = afterWrite["tdefs_read_bytes_total"] ?? 0
        let rfd = open("\(m)/data.bin", O_RDONLY | tdefs_O_DIRECT)
        try check(rfd, "open O_DIRECT")
        var buf: UnsafeMutableRawPointer?
        XCTAssertEqual(posix_memalign(&buf, 4096, 65536), 0)
        defer { free(buf) }
        XCTAssertEqual(pread(rfd, buf, 65536, 4096), 65536)
        close(rfd)
        XCTAssertEqual(memcmp(buf!, Array(data[4096..<(4096 + 65536)]), 65536), 0)
        let afterRead = try scrape()
        XCTAssertEqual(afterRead["tdefs_read_bytes_total"], before + 65536, "plaintext bytes read")

        // A lookup of a missing name is an error answer, counted with its errno.
        let misses = afterRead[#"tdefs_request_errors_total{op="lookup",errno="ENOENT"}"#] ?? 0
        XCTAssertNil(statOrNil("\(m)/no-such-file"))
        let afterMiss = try scrape()
        XCTAssertEqual(afterMiss[#"tdefs_request_errors_total{op="lookup",errno="ENOENT"}"#], misses + 1, afterMiss.text)

        // The daemon's census is in the metrics too.
        XCTAssertEqual(afterMiss[#"tdefs_census_state{state="current"}"#], 1)
        XCTAssertEqual(afterMiss[#"tdefs_files{epoch="1"}"#], 1)

        let promtool = try Harness.which("promtool") ?? (Harness.fuseRequired ? Ops.tool("promtool", package: "prometheus") : nil)
        if let promtool {
            let file = vol.base + "/scrape.prom"
            try afterMiss.text.write(toFile: file, atomically: true, encoding: .utf8)
            let r = runCommand("/bin/sh", ["-c", "'\(promtool)' check metrics < '\(file)'"])
            XCTAssertEqual(r.status, 0, "promtool check metrics: \(r.summary)")
        }

        // Online rotation: the new epoch is in use.
        let rotate = vol.tdefs(["rotate", vol.mnt, "--key-file", vol.keyFile])
        XCTAssertEqual(rotate.status, 0, rotate.summary)
        let afterRotate = try scrape()
        XCTAssertEqual(afterRotate["tdefs_key_epoch"], 2)
        XCTAssertEqual(afterRotate["tdefs_key_epochs_unlocked"], 2)
        XCTAssertEqual(afterRotate["tdefs_rotation_in_progress"], 0)

        vol.unmount()
        XCTAssertNil(lstatOrNil(socketPath), "the socket goes with the daemon")
    }

    func testDamagedExtentIsCounted() throws {
        try vol.mount()
        let extents = (0..<3).map { [UInt8](repeating: UInt8(0x61 + $0), count: 4096) }
        try writeFile("\(vol.mnt)/damaged.bin", extents.flatMap { $0 })
        vol.unmount()
        try damageExtent(1, ofTheFileWith: 3, in: vol.backing, offset: 50, mask: 0x10)

        try vol.mount(options: ["metrics=unix:\(socketPath)"])
        let before = try scrape()
        XCTAssertEqual(before[#"tdefs_authentication_failures_total{object="extent"}"#], 0)
        let f = open("\(vol.mnt)/damaged.bin", O_RDONLY)
        try check(f, "open")
        _ = posix_fadvise(f, 0, 0, POSIX_FADV_RANDOM)
        XCTAssertEqual(preadBytes(f, count: 4096, at: 4096).errno, EIO)
        XCTAssertEqual(preadBytes(f, count: 4096, at: 0).bytes, extents[0])
        close(f)
        let after = try scrape()
        XCTAssertGreaterThanOrEqual(after[#"tdefs_authentication_failures_total{object="extent"}"#] ?? 0, 1, after.text)
        XCTAssertGreaterThanOrEqual(after[#"tdefs_request_errors_total{op="read",errno="EIO"}"#] ?? 0, 1, after.text)
        XCTAssertEqual(after["tdefs_mounted"], 1, "the daemon serves on")
    }

    func testLoopbackPort() throws {
        let port = freeLoopbackPort()
        try vol.mount(options: ["metrics=127.0.0.1:\(port)"])
        let s = try Scrape.of(port: port)
        XCTAssertEqual(s["tdefs_mounted"], 1, s.text)
        XCTAssertEqual(HTTPProbe.get(port: port, path: "/")?.status, 404)

        // A second volume cannot take the same port: the mount fails, nothing is mounted.
        let other = TestVolume(bin: vol.bin, prefix: "tdefs-MetricsTests-other")
        defer { other.destroy() }
        try other.initVolume()
        let r = other.tdefs(["mount", other.backing, other.mnt, "--key-file", other.keyFile, "-o", "metrics=127.0.0.1:\(port)"],
                            env: ["TDEFS_LOG_FILE": other.logFile])
        XCTAssertEqual(r.status, 13, r.summary)
        XCTAssertTrue(r.stderr.contains("in use"), r.summary)
        XCTAssertFalse(isMounted(other.mnt))
        XCTAssertEqual(try Scrape.of(port: port)["tdefs_mounted"], 1, "the first daemon still serves")
    }

    func testEndpointsThatAreRefused() throws {
        for value in ["0.0.0.0:9470", "192.168.0.1:9470", "localhost:9470", "relative.sock", "127.0.0.1:0", "[::]:9470", ""] {
            let r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile, "-o", "metrics=\(value)"])
            XCTAssertEqual(r.status, 2, "-o metrics=\(value): \(r.summary)")
            XCTAssertTrue(r.stderr.contains("-o metrics="), r.summary)
            XCTAssertFalse(isMounted(vol.mnt))
        }
        // A path that exists and is not a socket is left alone.
        try writeFile(socketPath, "not a socket")
        let r = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile, "-o", "metrics=\(socketPath)"],
                          env: ["TDEFS_LOG_FILE": vol.logFile])
        XCTAssertEqual(r.status, 13, r.summary)
        XCTAssertTrue(r.stderr.contains("not a socket"), r.summary)
        XCTAssertFalse(isMounted(vol.mnt))
        XCTAssertEqual(try readFile(socketPath), Array("not a socket".utf8))
        // A directory that does not exist.
        let missing = vol.tdefs(["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile, "-o", "metrics=\(vol.base)/none/m.sock"])
        XCTAssertEqual(missing.status, 13, missing.summary)
        XCTAssertFalse(isMounted(vol.mnt))
    }

    /// Whatever a client sends, it gets a 4xx answer (or none) and the daemon serves on.
    func testMalformedRequestsDoNotHurtTheDaemon() throws {
        try vol.mount(options: ["metrics=\(socketPath)"])
        let cases: [(bytes: [UInt8], status: Int?)] = [
            (Array("GET /metrics\r\n\r\n".utf8), 400),
            (Array("GET metrics HTTP/1.1\r\n\r\n".utf8), 400),
            (Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), 400),
            (Array("POST /metrics HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd".utf8), 405),
            (Array("DELETE / HTTP/1.1\r\n\r\n".utf8), 405),
            (Array("GET /../../etc/passwd HTTP/1.1\r\n\r\n".utf8), 404),
            (Array("GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n".utf8), 400),
            (Array("GET /metrics HTTP/1.1\r\nX: " .utf8) + [UInt8](repeating: 0x41, count: 10000) + Array("\r\n\r\n".utf8), 431),
            ([0, 0, 0, 0, 0x0A, 0x0A], 400),
            ([0xFF, 0xFE, 0xFD, 0x0D, 0x0A, 0x0D, 0x0A], 400),
        ]
        for c in cases {
            let a = HTTPProbe.exchange(unix: socketPath, c.bytes)
            XCTAssertEqual(a?.status, c.status, "\(String(decoding: c.bytes.prefix(40), as: UTF8.self).debugDescription): \(a?.head ?? "no answer")")
        }
        // Half a request, then the client stops sending: an answer, not a hang.
        XCTAssertEqual(HTTPProbe.exchange(unix: socketPath, Array("GET /metr".utf8), closeAfterSending: true)?.status, 400)
        // Connections that send nothing.
        XCTAssertEqual(HTTPProbe.exchange(unix: socketPath, [], closeAfterSending: true)?.status, nil)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let bytes = (0..<Int.random(in: 1..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } + [0x0A, 0x0A]
            let a = HTTPProbe.exchange(unix: socketPath, bytes)
            XCTAssertTrue(a?.status.map { (400..<500).contains($0) } ?? true, a?.head ?? "")
        }
        XCTAssertEqual(HTTPProbe.get(unix: socketPath, "HEAD /metrics HTTP/1.0\r\n\r\n")?.status, 200)
        XCTAssertEqual(try scrape()["tdefs_mounted"], 1)
        try writeFile("\(vol.mnt)/still-works", "yes")
        XCTAssertEqual(try readFile("\(vol.mnt)/still-works"), Array("yes".utf8))
    }
}
