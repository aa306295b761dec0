import XCTest
import TDEFSTestSupport
import Foundation
import Glibc

/// docs/operations.md, section 10, run as written: the textfile script and its cron command through
/// a real node exporter, the Prometheus config against a real Prometheus scraping a real daemon,
/// and the alert rules through `promtool test rules`.
final class MetricsRecipeTests: XCTestCase {
    var vol: TestVolume!

    override func setUpWithError() throws {
        try super.setUpWithError()
        try Ops.requireRoot()
        vol = TestVolume(bin: try Harness.requireMountable(needsRoot: true), prefix: "tdefs-MetricsRecipeTests")
        try vol.initVolume()
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
        super.tearDown()
    }

    static var operations: String {
        get throws { try String(contentsOfFile: Harness.packageRoot() + "/docs/operations.md", encoding: .utf8) }
    }

    /// The indented code block after `<!-- recipe: NAME -->` in docs/operations.md, unindented.
    static func recipe(_ name: String) throws -> String {
        let doc = try operations
        guard let marker = doc.range(of: "<!-- recipe: \(name) -->\n") else { throw HarnessError("no recipe \(name) in operations.md") }
        var lines: [String] = []
        for line in doc[marker.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { if !lines.isEmpty { lines.append("") }; continue }
            guard line.hasPrefix("    ") else { break }
            lines.append(String(line.dropFirst(4)))
        }
        while lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw HarnessError("recipe \(name) is empty") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The documented mount options line's metrics endpoint.
    func documentedSocket() throws -> String {
        let doc = try Self.operations
        let line = try XCTUnwrap(doc.split(separator: "\n").first { $0.contains("MOUNT_OPTIONS=") && $0.contains("metrics=") })
        let value = try XCTUnwrap(line.components(separatedBy: "metrics=").last?.split(separator: "\"").first)
        return String(value)
    }

    func testTextfileRecipeThroughTheNodeExporter() throws {
        _ = try Ops.tool("curl", package: "curl")
        let exporter = try Ops.tool("prometheus-node-exporter", package: "prometheus-node-exporter")
        let socket = try documentedSocket()
        XCTAssertEqual(socket, "/run/tdefs/postgresql.metrics")
        try vol.mount(options: ["allow_other", "noatime", "noxattr", "metrics=\(socket)"])

        // The documented curl line, as written.
        let curlLine = try XCTUnwrap(try Self.operations.split(separator: "\n").first { $0.contains("curl -s --unix-socket") })
        let direct = runCommand("/bin/sh", ["-c", curlLine.trimmingCharacters(in: .whitespaces)])
        XCTAssertEqual(direct.status, 0, direct.summary)
        XCTAssertTrue(direct.stdout.contains("tdefs_mounted 1"), direct.stdout)
        XCTAssertFalse(direct.stdout.contains("# HELP"), "grep -v '^#' leaves the samples")

        // The script, installed as the recipe says, and the cron job's command.
        let script = vol.base + "/tdefs-textfile"
        try Self.recipe("tdefs-textfile").write(toFile: script, atomically: true, encoding: .utf8)
        let install = try Self.recipe("cron").split(separator: "\n")
        XCTAssertTrue(install.contains { $0.hasPrefix("install -m 0755 tdefs-textfile /usr/local/sbin/tdefs-textfile") })
        XCTAssertEqual(chmod(script, 0o755), 0)
        let cronLine = try XCTUnwrap(install.first { $0.contains("/etc/cron.d/") })
        let entry = try XCTUnwrap(cronLine.split(separator: "'").dropFirst().first)
        let fields = entry.split(separator: " ").map(String.init)
        XCTAssertEqual(fields.prefix(6), ["*", "*", "*", "*", "*", "root"], "every minute, as root")
        XCTAssertEqual(fields[6], "/usr/local/sbin/tdefs-textfile")
        let arguments = Array(fields.dropFirst(7))
        XCTAssertEqual(arguments, ["postgresql"])
        let textfiles = vol.base + "/textfile"
        XCTAssertEqual(mkdir(textfiles, 0o755), 0)
        func runJob(_ args: [String]) {
            let r = runCommand(script, args, env: ["TEXTFILE_DIR": textfiles, "PATH": "/usr/bin:/bin"])
            XCTAssertEqual(r.status, 0, "tdefs-textfile \(args): \(r.summary)")
        }
        runJob(arguments)
        runJob(["unmounted-volume"])
        XCTAssertEqual(try listDir(textfiles).sorted(), ["tdefs-postgresql.prom", "tdefs-unmounted-volume.prom"], "no temporaries left")
        let bad = runCommand(script, ["bad\"name"], env: ["TEXTFILE_DIR": textfiles])
        XCTAssertEqual(bad.status, 2, bad.summary)

        let port = freeLoopbackPort()
        let node = try SpawnedProcess(exporter, ["--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults",
                                                 "--collector.textfile", "--collector.textfile.directory=\(textfiles)"])
        defer { node.stop() }
        func nodeScrape() throws -> Scrape {
            var s: Scrape?
            _ = eventually { s = try? Scrape.of(port: port); return s != nil }
            return try XCTUnwrap(s, "the node exporter answers; its log: \(node.stderr)")
        }
        let up = try nodeScrape()
        XCTAssertEqual(up["node_textfile_scrape_error"], 0, "the node exporter takes both files: \(up.text)")
        XCTAssertEqual(up[#"tdefs_mounted{volume="postgresql"}"#], 1, up.text)
        XCTAssertEqual(up[#"tdefs_mounted{volume="unmounted-volume"}"#], 0, "not mounted reads 0, it does not vanish")
        XCTAssertEqual(up[#"tdefs_requests_total{op="write",volume="postgresql"}"#] != nil, true, "labels keep the volume")
        let written = up[#"tdefs_written_bytes_total{volume="postgresql"}"#] ?? -1

        // Values move: a write through the mount shows at the next run of the job.
        let fd = open("\(vol.mnt)/recipe.bin", O_CREAT | O_WRONLY, 0o644)
        try check(fd, "create")
        try writeAll(fd, [UInt8](repeating: 9, count: 100_000), at: 0)
        try check(fsync(fd), "fsync")
        close(fd)
        runJob(arguments)
        let moved = try nodeScrape()
        XCTAssertGreaterThanOrEqual(moved[#"tdefs_written_bytes_total{volume="postgresql"}"#] ?? 0, written + 100_000, moved.text)
        XCTAssertEqual(moved[#"tdefs_files{epoch="1",volume="postgresql"}"#], 1)

        // Unmounted: the job writes 0, and the node exporter says so.
        vol.unmount()
        runJob(arguments)
        let down = try nodeScrape()
        XCTAssertEqual(down["node_textfile_scrape_error"], 0)
        XCTAssertEqual(down[#"tdefs_mounted{volume="postgresql"}"#], 0, down.text)
        XCTAssertNil(down[#"tdefs_written_bytes_total{volume="postgresql"}"#], "only tdefs_mounted while unmounted")
    }

    func testPrometheusScrapesTheLoopbackPortAndTheAlertRulesFire() throws {
        let promtool = try Ops.tool("promtool", package: "prometheus")
        let prometheus = try Ops.tool("prometheus", package: "prometheus")
        let dir = vol.base + "/prometheus"
        XCTAssertEqual(mkdir(dir, 0o755), 0)
        let config = try Self.recipe("prometheus.yml")
        try config.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        try Self.recipe("tdefs-alerts.yml").write(toFile: dir + "/tdefs-alerts.yml", atomically: true, encoding: .utf8)
        let checked = runCommand(promtool, ["check", "config", dir + "/prometheus.yml"])
        XCTAssertEqual(checked.status, 0, checked.summary)
        XCTAssertTrue(checked.stdout.contains("SUCCESS: 4 rules found"), checked.summary)

        try Self.ruleTests.write(toFile: dir + "/tdefs-alerts.test.yml", atomically: true, encoding: .utf8)
        let tested = runCommand(promtool, ["test", "rules", dir + "/tdefs-alerts.test.yml"])
        XCTAssertEqual(tested.status, 0, tested.summary)

        // The documented target, scraped by a real Prometheus with the documented config.
        let target = try XCTUnwrap(config.split(separator: "'").dropFirst().first.map(String.init))
        XCTAssertEqual(target, "127.0.0.1:9470")
        try vol.mount(options: ["metrics=\(target)"])
        let port = freeLoopbackPort()
        let server = try SpawnedProcess(prometheus, ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/data",
                                                     "--web.listen-address=127.0.0.1:\(port)"])
        defer { server.stop() }
        func query(_ q: String) -> String? {
            let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
            guard let a = HTTPProbe.get(port: port, path: "/api/v1/query?query=\(encoded)"), a.status == 200 else { return nil }
            return a.body
        }
        // The first scrape comes within one scrape_interval (30 s) of the start.
        let scraped = eventually(attempts: 1800) {
            query("tdefs_mounted")?.contains(#""volume":"postgresql""#) == true
        }
        XCTAssertTrue(scraped, "Prometheus scraped the daemon; its log: \(server.stderr.suffix(2000))")
        let mounted = query(#"tdefs_mounted{job="tdefs",volume="postgresql"}"#) ?? ""
        XCTAssertTrue(mounted.contains(#""1"]"#), mounted)
        let alert = query(#"tdefs_mounted == 0 or up{job="tdefs"} == 0"#) ?? ""
        XCTAssertTrue(alert.contains(#""result":[]"#), "TdefsVolumeNotMounted's expression is empty while mounted: \(alert)")
    }

    /// promtool unit tests of the documented alert rules: each fires where it should, and only there.
    static let ruleTests = #"""
    rule_files:
      - tdefs-alerts.yml
    evaluation_interval: 1m
    tests:
      - interval: 1m
        input_series:
          # Loopback job: the daemon stops after 2 minutes (the target goes down).
          - series: 'up{job="tdefs",instance="127.0.0.1:9470",volume="postgresql"}'
            values: '1 1 0 0 0 0 0 0'
          - series: 'tdefs_mounted{job="tdefs",instance="127.0.0.1:9470",volume="postgresql"}'
            values: '1 1 _ _ _ _ _ _'
          # Textfile route: one volume reads 0, another 1.
          - series: 'tdefs_mounted{job="node",instance="db1:9100",volume="redis"}'
            values: '0x7'
          - series: 'tdefs_mounted{job="node",instance="db1:9100",volume="mariadb"}'
            values: '1x7'
        alert_rule_test:
          - eval_time: 1m
            alertname: TdefsVolumeNotMounted
            exp_alerts: []
          - eval_time: 6m
            alertname: TdefsVolumeNotMounted
            exp_alerts:
              - exp_labels: {severity: critical, job: tdefs, instance: '127.0.0.1:9470', volume: postgresql}
                exp_annotations: {summary: 'tdefs volume postgresql is not mounted'}
              - exp_labels: {severity: critical, job: node, instance: 'db1:9100', volume: redis}
                exp_annotations: {summary: 'tdefs volume redis is not mounted'}
      - interval: 1m
        input_series:
          - series: 'tdefs_authentication_failures_total{job="tdefs",instance="127.0.0.1:9470",volume="postgresql",object="extent"}'
            values: '0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'
          - series: 'tdefs_authentication_failures_total{job="tdefs",instance="127.0.0.1:9470",volume="postgresql",object="header"}'
            values: '0x29'
        alert_rule_test:
          - eval_time: 4m
            alertname: TdefsDamagedData
            exp_alerts: []
          - eval_time: 6m
            alertname: TdefsDamagedData
            exp_alerts:
              - exp_labels: {severity: critical, job: tdefs, instance: '127.0.0.1:9470', volume: postgresql, object: extent}
                exp_annotations: {summary: 'tdefs volume postgresql: stored extent data failed authentication; see the journal, run tdefs fsck'}
          - eval_time: 29m
            alertname: TdefsDamagedData
            exp_alerts: []
      - interval: 1m
        input_series:
          # Recorded progress once, at 1 minute, then nothing: stalled after 30 minutes.
          - series: 'tdefs_rotation_in_progress{job="tdefs",instance="127.0.0.1:9470",volume="postgresql"}'
            values: '1x45'
          - series: 'tdefs_rotation_updated_timestamp_seconds{job="tdefs",instance="127.0.0.1:9470",volume="postgresql"}'
            values: '60x45'
          # Progressing: its tdefs.conf changes every minute.
          - series: 'tdefs_rotation_in_progress{job="tdefs",instance="127.0.0.1:9471",volume="mariadb"}'
            values: '1x45'
          - series: 'tdefs_rotation_updated_timestamp_seconds{job="tdefs",instance="127.0.0.1:9471",volume="mariadb"}'
            values: '0+60x45'
          # No rotation.
          - series: 'tdefs_rotation_in_progress{job="tdefs",instance="127.0.0.1:9472",volume="redis"}'
            values: '0x45'
          - series: 'tdefs_rotation_updated_timestamp_seconds{job="tdefs",instance="127.0.0.1:9472",volume="redis"}'
            values: '0x45'
        alert_rule_test:
          - eval_time: 20m
            alertname: TdefsRotationStalled
            exp_alerts: []
          - eval_time: 40m
            alertname: TdefsRotationStalled
            exp_alerts:
              - exp_labels: {severity: warning, job: tdefs, instance: '127.0.0.1:9470', volume: postgresql}
                exp_annotations: {summary: 'tdefs volume postgresql: the key rotation has recorded no progress for 30 minutes; run tdefs rotate again'}
      - interval: 1m
        input_series:
          # The cron job stopped: the file's mtime stays at 0 while time goes on.
          - series: 'node_textfile_mtime_seconds{job="node",instance="db1:9100",file="tdefs-redis.prom"}'
            values: '0x20'
          - series: 'node_textfile_mtime_seconds{job="node",instance="db1:9100",file="tdefs-mariadb.prom"}'
            values: '0+60x20'
          - series: 'node_textfile_mtime_seconds{job="node",instance="db1:9100",file="other.prom"}'
            values: '0x20'
        alert_rule_test:
          - eval_time: 15m
            alertname: TdefsMetricsStale
            exp_alerts:
              - exp_labels: {severity: warning, job: node, instance: 'db1:9100', file: tdefs-redis.prom}
                exp_annotations: {summary: 'tdefs-redis.prom is not being rewritten (is the tdefs-textfile cron job running?)'}
    """#
}
