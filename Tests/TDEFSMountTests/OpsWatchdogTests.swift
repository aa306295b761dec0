import Glibc
import XCTest

/// systemd's watchdog (WatchdogSec=): under $WATCHDOG_USEC, `tdefs mount --foreground` sends
/// WATCHDOG=1 from the worker that answers its own statfs probe, so pings stop when serving
/// hangs. The hang here is real: the backing directory is a lazyfs mount, and lazyfs is stopped
/// with SIGSTOP, so the engine's statfs of the backing filesystem blocks.
final class OpsWatchdogTests: XCTestCase {
    var vol: TestVolume!
    var lazy: Background?
    var daemon: SpawnedProcess?

    override func setUpWithError() throws {
        try super.setUpWithError()
        let bin = try Harness.requireMountable(needsRoot: true)
        vol = TestVolume(bin: bin, prefix: "tdefs-OpsWatchdog")
        let lower = vol.base + "/lower"
        mkdir(lower, 0o755)
        let lazyBin = try DB.buildLazyFS(into: vol.base)
        let l = try Background(lazyBin, [lower, vol.backing, vol.base + "/cut", "-f"],
                               stdout: vol.base + "/lazyfs.log", stderr: vol.base + "/lazyfs.log")
        lazy = l
        try DB.wait(30, "lazyfs to mount") { isMounted(vol.backing) || !l.running }
        guard l.running else { throw HarnessError("lazyfs exited: \(DB.readFile(vol.base + "/lazyfs.log"))") }
        try vol.initVolume()
    }

    override func tearDown() {
        if let lazy { lazy.signal(SIGCONT) }
        daemon?.stop()
        if let vol {
            vol.unmount()
            if isMounted(vol.backing) { _ = runCommand("/usr/bin/fusermount3", ["-u", "-z", vol.backing]) }
            if let lazy, lazy.wait(timeout: 30) == nil { lazy.signal(SIGKILL); lazy.wait() }
            vol.destroy()
        }
        lazy = nil
        vol = nil
        super.tearDown()
    }

    func testPingsWhileServingAndNoneWhileTheBackingHangs() throws {
        let notify = try NotifySocket(path: vol.base + "/notify.sock")
        let p = try SpawnedProcess(vol.bin, ["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile, "-f"],
                                   env: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"])
        daemon = p
        XCTAssertTrue(notify.receive(until: "READY=1").found, "no READY=1; stderr: \(p.stderr)")
        XCTAssertTrue(notify.receive(until: "WATCHDOG=1").found, "no WATCHDOG=1 while serving; stderr: \(p.stderr)")
        try writeFile(vol.mnt + "/f", "served")

        // Serving hangs: the engine's statfs waits on the stopped lazyfs.
        lazy?.signal(SIGSTOP)
        // A ping answered just before the stop may still be on its way; after it, none comes
        // during 20 probe intervals.
        _ = notify.receive(limitSeconds: 1)
        XCTAssertNil(notify.receive(limitSeconds: 2), "a ping came while serving was hung")
        lazy?.signal(SIGCONT)
        XCTAssertTrue(notify.receive(until: "WATCHDOG=1").found, "pings did not resume; stderr: \(p.stderr)")
        XCTAssertEqual(try readFile(vol.mnt + "/f"), Array("served".utf8))

        XCTAssertEqual(kill(p.pid, SIGTERM), 0)
        XCTAssertTrue(notify.receive(until: "STOPPING=1").found)
        XCTAssertEqual(p.wait(), 0, p.stderr)
    }

    /// $WATCHDOG_PID naming another process: the watchdog is not this daemon's (sd_watchdog_enabled).
    func testNoPingsForAnotherProcessesWatchdog() throws {
        let notify = try NotifySocket(path: vol.base + "/notify.sock")
        let p = try SpawnedProcess(vol.bin, ["mount", vol.backing, vol.mnt, "--key-file", vol.keyFile, "-f"],
                                   env: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"])
        daemon = p
        XCTAssertTrue(notify.receive(until: "READY=1").found, "no READY=1; stderr: \(p.stderr)")
        XCTAssertNil(notify.receive(limitSeconds: 2), "a ping for a watchdog that is not ours")
        XCTAssertEqual(kill(p.pid, SIGTERM), 0)
        XCTAssertTrue(notify.receive(until: "STOPPING=1").found)
        XCTAssertEqual(p.wait(), 0, p.stderr)
    }
}
