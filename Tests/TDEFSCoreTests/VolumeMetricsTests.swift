import Glibc
import XCTest
@testable import TDEFSCore

/// The registry and its text: what the adapter records shows in a scrape, and what the engine
/// counts (handles, authentication failures, census) is read when the scrape comes.
final class VolumeMetricsTests: XCTestCase {
    /// "name{labels}" -> value, for every sample line of a scrape.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = value
        }
        return out
    }

    func testRequestsErrorsBytesHandlesAndDamageShowInTheText() throws {
        let fixture = try EngineFixture()
        defer { fixture.fs.destroy(); fixture.remove() }
        let fs = fixture.fs
        let metrics = VolumeMetrics(.init(fileSystem: fs, keyring: fixture.keyring, backingPath: fixture.backing, mountpoint: "/mnt/x"))
        for _ in 0..<3 { metrics.finish(.read, startedAt: VolumeMetrics.now(), errno: 0) }
        metrics.finish(.read, startedAt: VolumeMetrics.now(), errno: EIO)
        metrics.finish(.lookup, startedAt: VolumeMetrics.now(), errno: ENOENT)
        metrics.finish(.lookup, startedAt: VolumeMetrics.now(), errno: ENOENT)
        metrics.read(bytes: 8192)
        metrics.wrote(bytes: 100)
        metrics.setMounted(true)

        // A file whose second extent is damaged: reading it fails and is counted.
        let (_, file) = try fs.create(parent: 1, name: "data", mode: 0o600, flags: O_RDWR, context: .daemon)
        _ = try [UInt8](repeating: 7, count: 8192).withUnsafeBytes { try fs.write(file, offset: 0, from: $0) }
        let backingName = try XCTUnwrap(try FileManagerless.entries(fixture.backing).first { !$0.contains(".") })
        let fd = Glibc.open(fixture.backing + "/" + backingName, O_RDWR)
        var byte: UInt8 = 0
        XCTAssertEqual(pread(fd, &byte, 1, off_t(ExtentGeometry.backingOffset(ofExtent: 1) + 40)), 1)
        byte ^= 0x80
        XCTAssertEqual(pwrite(fd, &byte, 1, off_t(ExtentGeometry.backingOffset(ofExtent: 1) + 40)), 1)
        close(fd)
        var buf = [UInt8](repeating: 0, count: 4096)
        XCTAssertThrowsError(try buf.withUnsafeMutableBytes { try fs.read(file, offset: 4096, into: $0) })

        let dir = try fs.opendir(1)
        fs.recountCensus()
        while fs.census.model.withLock({ $0.running }) { usleep(1000) }
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        let s = Self.samples(text)
        XCTAssertEqual(s[#"tdefs_requests_total{op="read"}"#], 4, text)
        XCTAssertEqual(s[#"tdefs_request_duration_seconds_count{op="read"}"#], 4)
        XCTAssertEqual(s[#"tdefs_request_duration_seconds_bucket{op="read",le="+Inf"}"#], 4)
        XCTAssertEqual(s[#"tdefs_request_errors_total{op="read",errno="EIO"}"#], 1)
        XCTAssertEqual(s[#"tdefs_request_errors_total{op="lookup",errno="ENOENT"}"#], 2)
        XCTAssertEqual(s[#"tdefs_requests_total{op="write"}"#], 0, "every operation shows from the start")
        XCTAssertEqual(s["tdefs_read_bytes_total"], 8192)
        XCTAssertEqual(s["tdefs_written_bytes_total"], 100)
        XCTAssertEqual(s["tdefs_mounted"], 1)
        XCTAssertEqual(s[#"tdefs_authentication_failures_total{object="extent"}"#], 1)
        XCTAssertEqual(s[#"tdefs_authentication_failures_total{object="header"}"#], 0)
        XCTAssertEqual(s["tdefs_open_files"], 1)
        XCTAssertEqual(s["tdefs_open_directories"], 1)
        XCTAssertEqual(s["tdefs_key_epoch"], 1)
        XCTAssertEqual(s[#"tdefs_files{epoch="1"}"#], 1)
        XCTAssertEqual(s[#"tdefs_census_state{state="current"}"#], 1)
        XCTAssertEqual(s["tdefs_rotation_in_progress"], 0)
        XCTAssertEqual(s[#"tdefs_volume_info{backing="\#(fixture.backing)",mountpoint="/mnt/x",cipher="AES-256-GCM",format_version="0"}"#], 1)
        for family in ["tdefs_requests_total", "tdefs_request_duration_seconds", "tdefs_mounted", "tdefs_authentication_failures_total"] {
            XCTAssertEqual(text.components(separatedBy: "# TYPE \(family) ").count, 2, "one TYPE line for \(family)")
            XCTAssertTrue(text.contains("# HELP \(family) "), "a HELP line for \(family)")
        }

        fs.release(file)
        fs.releasedir(dir)
        metrics.setMounted(false)
        let after = Self.samples(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(after["tdefs_open_files"], 0)
        XCTAssertEqual(after["tdefs_open_directories"], 0)
        XCTAssertEqual(after["tdefs_mounted"], 0)
        XCTAssertEqual(after[#"tdefs_authentication_failures_total{object="extent"}"#], 1, "a scrape does not reset counters")
    }
}

/// Directory entries without Foundation's FileManager.
enum FileManagerless {
    static func entries(_ path: String) throws -> [String] {
        guard let d = opendir(path) else { throw Errno.current }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
