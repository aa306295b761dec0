import XCTest
import Foundation
import Glibc

/// systemd/tdefs@.service, the database drop-ins and the example drop-ins through
/// `systemd-analyze verify` (no systemd as PID 1 needed), plus the properties the issue asks for.
final class OpsUnitTests: XCTestCase {
    var tmp = ""
    var root: String { Harness.packageRoot() }

    override func setUpWithError() throws {
        try super.setUpWithError()
        tmp = makeTempDir("tdefs-OpsUnit")
    }

    override func tearDown() {
        if !tmp.isEmpty { _ = runCommand("/bin/rm", ["-rf", tmp]) }
        super.tearDown()
    }

    func text(_ path: String) throws -> String {
        guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { throw HarnessError("cannot read \(path)") }
        return s
    }

    /// The template with ExecStart pointing at a binary that exists (verify insists on it).
    func stageTemplate(into dir: String) throws -> String {
        let bin = Harness.binaryPath() ?? "/bin/true"
        let unit = try text(root + "/systemd/tdefs@.service").replacingOccurrences(of: "/usr/local/bin/tdefs", with: bin)
        try writeFile(dir + "/tdefs@.service", unit)
        return unit
    }

    func verify(_ units: [String]) throws -> CommandResult {
        let analyze = try Ops.tool("systemd-analyze", package: "systemd")
        return runCommand(analyze, ["verify", "--man=no"] + units, env: ["SYSTEMD_LOG_COLOR": "0"])
    }

    func dropinDirs() throws -> [String] {
        try listDir(root + "/systemd/dropins").filter { $0.hasSuffix(".service.d") }.sorted()
    }

    func testEveryUnitAndDropinVerifies() throws {
        _ = try stageTemplate(into: tmp)
        XCTAssertEqual(symlink("tdefs@.service", tmp + "/tdefs@check.service"), 0)
        var units = [tmp + "/tdefs@check.service"]
        let dirs = try dropinDirs()
        XCTAssertEqual(Set(dirs), ["postgresql@.service.d", "mariadb.service.d", "redis-server.service.d"])
        for d in dirs {
            var unit = String(d.dropLast(2))
            try writeFile(tmp + "/" + unit, "[Unit]\nDescription=stand-in for \(unit)\n[Service]\nType=oneshot\nExecStart=/bin/true\n")
            XCTAssertEqual(mkdir(tmp + "/" + d, 0o755), 0)
            try writeFile(tmp + "/\(d)/tdefs.conf", try readFile(root + "/systemd/dropins/\(d)/tdefs.conf"))
            if unit.hasSuffix("@.service") {
                let instance = unit.replacingOccurrences(of: "@.service", with: "@15-main.service")
                XCTAssertEqual(symlink(unit, tmp + "/" + instance), 0)
                unit = instance
            }
            units.append(tmp + "/" + unit)
        }
        // The example drop-ins for a volume (credentials, KMS network) on an instance.
        XCTAssertEqual(mkdir(tmp + "/tdefs@check.service.d", 0o755), 0)
        for example in ["credential.conf", "kms-network.conf"] {
            try writeFile(tmp + "/tdefs@check.service.d/" + example, try readFile(root + "/systemd/examples/" + example))
        }
        let r = try verify(units)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines), "", "warnings: \(r.stderr)")
    }

    /// The check has teeth: a unit with a mistake fails, an unknown key is reported.
    func testVerifyCatchesMistakes() throws {
        let unit = try stageTemplate(into: tmp)
        try writeFile(tmp + "/tdefs@.service", unit.replacingOccurrences(of: "[Unit]\n", with: "[Unit]\nRequires=no-such-unit-zz.service\n"))
        XCTAssertEqual(symlink("tdefs@.service", tmp + "/tdefs@bad.service"), 0)
        var r = try verify([tmp + "/tdefs@bad.service"])
        XCTAssertNotEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stderr.contains("no-such-unit-zz.service"), r.summary)
        try writeFile(tmp + "/tdefs@.service", unit.replacingOccurrences(of: "Type=notify", with: "Type=notify\nBogusSetting=1"))
        r = try verify([tmp + "/tdefs@bad.service"])
        XCTAssertTrue(r.stderr.contains("BogusSetting"), r.summary)
    }

    /// Type=notify, stop by SIGTERM, /dev/fuse allowed, and none of the settings that would put
    /// the service in a mount namespace of its own (the mount would be invisible to the host).
    func testTemplateProperties() throws {
        let unit = try text(root + "/systemd/tdefs@.service")
        let settings = unit.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("#") && $0.contains("=") }
        func value(_ key: String) -> [String] {
            settings.filter { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
        XCTAssertEqual(value("Type"), ["notify"])
        XCTAssertEqual(value("EnvironmentFile"), ["/etc/tdefs/%i.conf"])
        XCTAssertEqual(value("KillSignal"), ["SIGTERM"])
        XCTAssertEqual(value("KillMode"), ["mixed"])
        XCTAssertEqual(value("DeviceAllow"), ["/dev/fuse rw"])
        XCTAssertEqual(value("LimitCORE"), ["0"])
        let exec = value("ExecStart").first ?? ""
        XCTAssertTrue(exec.contains(" mount ${BACKING} ${MOUNTPOINT} $KEY_OPTIONS --foreground $MOUNT_OPTIONS"), exec)
        XCTAssertTrue(value("ExecStopPost").first?.contains("fusermount3 -u -z \"$${MOUNTPOINT}\"") ?? false)
        // A key server that is down at boot (exit 16) is retried (Restart=on-failure) within the
        // start limit; what retrying cannot mend (usage, wrong key, a revoked key: 17) is not.
        XCTAssertEqual(value("Restart"), ["on-failure"])
        let noRestart = (value("RestartPreventExitStatus").first ?? "").split(separator: " ")
        XCTAssertTrue(noRestart.contains("10") && noRestart.contains("17") && noRestart.contains("18") && !noRestart.contains("16"), "\(noRestart)")
        // After a lock (18) the dead mount stays: the bare directory under it is never exposed.
        XCTAssertTrue(value("ExecStopPost").first?.contains("\"$$EXIT_STATUS\" != 18") ?? false)
        let namespacing = ["ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
                           "ReadOnlyPaths", "ReadWritePaths", "InaccessiblePaths", "TemporaryFileSystem",
                           "BindPaths", "BindReadOnlyPaths", "ProtectKernelTunables", "ProtectKernelModules",
                           "ProtectKernelLogs", "ProtectControlGroups", "ProtectHostname", "ProtectProc",
                           "ProcSubset", "MountFlags", "RootDirectory", "RootImage", "PrivateIPC", "DynamicUser",
                           "NoNewPrivileges"]
        for key in namespacing {
            XCTAssertTrue(value(key).isEmpty, "\(key)= would hide the mount or break fusermount3")
        }
        for dropin in try dropinDirs() {
            let d = try text(root + "/systemd/dropins/\(dropin)/tdefs.conf")
            XCTAssertTrue(d.contains("\nRequires=tdefs@"), dropin)
            XCTAssertTrue(d.contains("\nAfter=tdefs@"), dropin)
            XCTAssertTrue(d.contains("\nRequiresMountsFor=/var/lib/"), dropin)
        }
    }

    /// The example /etc/tdefs/VOLUME.conf sets every variable the unit uses.
    func testExampleVolumeConfHasTheKeys() throws {
        let conf = try text(root + "/systemd/examples/volume.conf")
        for key in ["BACKING=", "MOUNTPOINT=", "KEY_OPTIONS=", "MOUNT_OPTIONS="] {
            XCTAssertTrue(conf.split(separator: "\n").contains { $0.hasPrefix(key) }, key)
        }
    }
}
