import Foundation
import Glibc
import Synchronization
import XCTest

/// Key lifecycle: passwd, online rotate and rotate --reencrypt under load, SIGKILL of a rotation
/// (and of the daemon) at random moments then resume, retire, export-key, status counts.
final class RotationTests: MountTestCase {
    // These tests use user.* extended attributes on the mount.
    override var initOptions: [String] { Self.generalProfile }

    let scrypt = ["TDEFS_SCRYPT_N": "1024"]
    var key: [String] { ["--key-file", vol.keyFile] }

    /// A tree of files of varied sizes (holes, partial extents, long names, links); returns contents.
    func populate(_ rng: inout SeededRNG, files: Int = 24) throws -> [String: [UInt8]] {
        var model: [String: [UInt8]] = [:]
        mkdir("\(m)/dir", 0o755)
        mkdir("\(m)/dir/sub", 0o700)
        for i in 0..<files {
            let size = Int(rng.next() % 600_000)
            let name = i % 7 == 3 ? "dir/" + String(repeating: "long", count: 45) + "\(i)" : (i % 2 == 0 ? "dir/f\(i)" : "dir/sub/f\(i)")
            let data = rng.bytes(size)
            try writeFile("\(m)/\(name)", data)
            model[name] = data
        }
        XCTAssertEqual(symlink("../target/of/link", "\(m)/dir/link"), 0)
        XCTAssertEqual(link("\(m)/dir/f0", "\(m)/dir/sub/hard"), 0)
        model["dir/sub/hard"] = model["dir/f0"]
        XCTAssertEqual(setXattr("\(m)/dir", "user.note", Array("kept".utf8)), 0)
        XCTAssertEqual(setXattr("\(m)/dir/f0", "user.file-note", Array("file attribute".utf8)), 0)
        return model
    }

    func verify(_ model: [String: [UInt8]], in root: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for (name, data) in model {
            XCTAssertEqual(try readFile("\(root)/\(name)"), data, name, file: file, line: line)
        }
        XCTAssertEqual(readLink("\(root)/dir/link"), "../target/of/link", file: file, line: line)
        XCTAssertEqual(getXattr("\(root)/dir", "user.note").value, Array("kept".utf8), file: file, line: line)
        XCTAssertEqual(getXattr("\(root)/dir/f0", "user.file-note").value, Array("file attribute".utf8), file: file, line: line)
        XCTAssertEqual(listXattrs("\(root)/dir/f0").map { String(decoding: $0, as: UTF8.self) }, ["user.file-note"], file: file, line: line)
    }

    func status() throws -> [String: Any] {
        let r = vol.tdefs(["status", vol.backing, "--json"])
        XCTAssertEqual(r.status, 0, r.summary)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    func filesPerEpoch() throws -> [Int: Int] {
        var out: [Int: Int] = [:]
        for e in try XCTUnwrap(try status()["epochs"] as? [[String: Any]]) {
            out[e["epoch"] as! Int] = e["files"] as? Int
        }
        return out
    }

    /// The epochs named by the headers of all backing files, counted by walking the backing directory.
    func walkHeaderEpochs() -> [Int: Int] {
        var counts: [Int: Int] = [:]
        let e = FileManager.default.enumerator(atPath: vol.backing)
        while let rel = e?.nextObject() as? String {
            let name = (rel as NSString).lastPathComponent
            guard !name.contains(".") || (name.hasPrefix("tdefs.long.") && !name.hasSuffix(".name")) else { continue }
            let p = vol.backing + "/" + rel
            guard let st = lstatOrNil(p), (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 96 else { continue }
            let fd = open(p, O_RDONLY)
            let h = preadBytes(fd, count: 12, at: 0).bytes
            close(fd)
            counts[Int(h[8]) << 24 | Int(h[9]) << 16 | Int(h[10]) << 8 | Int(h[11]), default: 0] += 1
        }
        return counts
    }

    // MARK: passwd

    func testPasswdReplacesTheKeySourceWhileMounted() throws {
        try writeFile("\(m)/data", "secret rows")
        vol.unmount()
        let before = try snapshotTree(vol.backing).filter { !$0.key.hasPrefix("tdefs.") }
        try vol.mount()
        let pw = vol.base + "/pass"
        try writeFile(pw, "a new passphrase\n", mode: 0o600)
        let r = vol.tdefs(["passwd", m] + key + ["--new-passphrase-file", pw], env: scrypt)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try readFile("\(m)/data"), Array("secret rows".utf8), "the mount keeps working")
        vol.unmount()
        let after = try snapshotTree(vol.backing).filter { !$0.key.hasPrefix("tdefs.") }
        XCTAssertTrue(treeDifferences(before, after, labels: ("before", "after")).isEmpty, "only tdefs.conf changes")
        XCTAssertEqual(vol.tdefs(["mount", vol.backing, m] + key).status, 10, "the old key no longer opens it")
        try vol.mount(keyArgs: ["--passphrase-file", pw])
        XCTAssertEqual(try readFile("\(m)/data"), Array("secret rows".utf8))
    }

    // MARK: online rotation under load

    func testOnlineRotateAndReencryptUnderLoad() throws {
        var rng = SeededRNG(seed: 0x5EED_0001)
        let model = try populate(&rng, files: 16)
        let stop = Atomic<Bool>(false)
        let errors = Mutex<[String]>([])
        let mnt = m
        // A client that keeps writing, reading back and checking its own files during the rotations.
        let client = Thread {
            var i = 0
            var local = SeededRNG(seed: 42)
            while !stop.load(ordering: .relaxed) {
                let path = "\(mnt)/client-\(i % 8)"
                let data = local.bytes(Int(local.next() % 200_000) + 1)
                do {
                    try writeFile(path, data)
                    let fd = open(path, O_RDWR)
                    if fd < 0 { throw HarnessError("open \(path): \(errName(errno))") }
                    defer { close(fd) }
                    if fsync(fd) != 0 { throw HarnessError("fsync: \(errName(errno))") }
                    let back = try readAll(fd)
                    if back != data { throw HarnessError("\(path) read back different bytes") }
                } catch {
                    errors.withLock { $0.append("\(error)") }
                }
                i += 1
            }
        }
        client.start()
        let r1 = vol.tdefs(["rotate", m] + key)
        let r2 = vol.tdefs(["rotate", m] + key + ["--reencrypt"])
        stop.store(true, ordering: .relaxed)
        while !client.isFinished { usleep(10_000) }
        XCTAssertEqual(r1.status, 0, r1.summary)
        XCTAssertEqual(r2.status, 0, r2.summary)
        XCTAssertEqual(errors.withLock { $0 }, [], "the client saw no error")
        try verify(model, in: m)
        let epochs = try filesPerEpoch()
        XCTAssertEqual(epochs[1], 0)
        XCTAssertEqual(epochs[2], 0)
        XCTAssertEqual(try status()["currentEpoch"] as? Int, 3)
        vol.unmount()
        XCTAssertEqual(walkHeaderEpochs().keys.sorted(), [3], "every header names epoch 3")
        let f = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(f.status, 0, f.summary)
        XCTAssertEqual(vol.tdefs(["retire", vol.backing] + key + ["--epoch", "1"]).status, 0)
        XCTAssertEqual(vol.tdefs(["retire", vol.backing] + key + ["--epoch", "2"]).status, 0)
        try vol.mount()
        try verify(model, in: m)
    }

    // MARK: interrupted rotations

    func testRotationKilledAtRandomMomentsResumes() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["TDEFS_ROTATION_SEED"] ?? "") ?? UInt64(time(nil))
        print("rotation kill seed: \(seed) (TDEFS_ROTATION_SEED replays)")
        var rng = SeededRNG(seed: seed)
        let model = try populate(&rng, files: 40)
        vol.unmount()
        for cycle in 0..<4 {
            let reencrypt = cycle % 2 == 0
            let delay = UInt32(rng.next() % 400_000)
            _ = runAndKill(["rotate", vol.backing] + key + (reencrypt ? ["--reencrypt"] : []), after: delay)
            try vol.mount()
            try verify(model, in: m)  // readable at any instant
            vol.unmount()
        }
        // A killed plain rotate's record must be finished by a plain rotate: --reencrypt refuses it.
        if (try status()["rotation"] as? [String: Any])?["state"] as? String == "rewrapping" {
            let plain = vol.tdefs(["rotate", vol.backing] + key)
            XCTAssertEqual(plain.status, 0, plain.summary)
        }
        let r = vol.tdefs(["rotate", vol.backing] + key + ["--reencrypt"])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(try status()["rotation"] is NSNull, "no rotation left in progress")
        let f = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(f.status, 0, f.summary)
        let current = try XCTUnwrap(try status()["currentEpoch"] as? Int)
        XCTAssertEqual(walkHeaderEpochs().keys.sorted(), [current])
        try vol.mount()
        try verify(model, in: m)
    }

    func testDaemonKilledDuringOnlineReencryptResumes() throws {
        var rng = SeededRNG(seed: 0x5EED_0003)
        let model = try populate(&rng, files: 40)
        let daemon = try XCTUnwrap(daemonPID(), "the daemon holds tdefs.lock")
        let rotateLog = makeTempFile()
        defer { unlink(rotateLog) }
        let pid = try spawnProcess(vol.bin, ["rotate", m] + key + ["--reencrypt"], stdout: rotateLog, stderr: rotateLog)
        usleep(UInt32(150_000 + rng.next() % 300_000))
        kill(daemon, SIGKILL)
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
        _ = runCommand(Harness.which("fusermount3") ?? "/usr/bin/fusermount3", ["-u", "-z", m])
        vol.unmount()
        try vol.mount()
        try verify(model, in: m)
        let r = vol.tdefs(["rotate", m] + key + ["--reencrypt"])
        XCTAssertEqual(r.status, 0, r.summary)
        try verify(model, in: m)
        vol.unmount()
        let f = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(f.status, 0, f.summary)
    }

    // MARK: rotations exclude each other (issue 19 item 5)

    /// Many small files under dir/, their contents.
    func populateSmallFiles(_ count: Int) throws -> [String: [UInt8]] {
        var model: [String: [UInt8]] = [:]
        mkdir("\(m)/small", 0o755)
        for i in 0..<count {
            let data = Array("small file \(i)\n".utf8) + [UInt8](repeating: UInt8(i % 251), count: i % 5000)
            try writeFile("\(m)/small/f\(i)", data)
            model["small/f\(i)"] = data
        }
        return model
    }

    /// Some backing file of user data, opened read-write, with an open-file-description lock on its
    /// header: a rotation that respects the header lock waits on this file until it is closed.
    func lockSomeHeader() throws -> Int32 {
        let e = FileManager.default.enumerator(atPath: vol.backing)
        while let rel = e?.nextObject() as? String {
            let name = (rel as NSString).lastPathComponent
            guard !name.hasPrefix("tdefs."), let st = lstatOrNil(vol.backing + "/" + rel),
                  (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 96 else { continue }
            let fd = open(vol.backing + "/" + rel, O_RDWR | O_CLOEXEC)  // a spawned rotate must not inherit the lock
            guard fd >= 0 else { continue }
            var fl = flock()
            fl.l_type = Int16(F_WRLCK)
            fl.l_whence = Int16(SEEK_SET)
            fl.l_len = 96
            XCTAssertEqual(fcntl(fd, 37 /* F_OFD_SETLK */, &fl), 0, String(cString: strerror(errno)))
            return fd
        }
        return try XCTUnwrap(nil as Int32?, "no backing file with a header")
    }

    /// Polls status until the recorded rotation is in `state` (the other process recorded it).
    func waitForRotationState(_ state: String, while pid: pid_t) throws {
        for _ in 0..<6000 {
            if (try status()["rotation"] as? [String: Any])?["state"] as? String == state { return }
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid { XCTFail("the rotation ended before recording \(state)"); return }
            usleep(10_000)
        }
        XCTFail("no \(state) rotation recorded within a minute")
    }

    func waitExit(_ pid: pid_t) -> Int32 {
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
        return (st & 0x7f) == 0 ? (st >> 8) & 0xff : -1
    }

    /// A plain rotate started while an online --reencrypt is recorded is refused (exit 15) and
    /// changes nothing; the re-encryption then finishes and every file reads back.
    func testPlainRotateDuringReencryptIsRefused() throws {
        let model = try populateSmallFiles(400)
        let held = try lockSomeHeader()  // keeps the daemon's re-key, and so the rotation, from ending
        let log = makeTempFile()
        defer { unlink(log) }
        let pid = try spawnProcess(vol.bin, ["rotate", m] + key + ["--reencrypt"], stdout: log, stderr: log)
        try waitForRotationState("reencrypting", while: pid)
        let before = try status()["currentEpoch"] as? Int
        let plain = vol.tdefs(["rotate", m] + key)
        XCTAssertEqual(plain.status, 15, plain.summary)
        XCTAssertTrue(plain.stderr.contains("reencrypting rotation"), plain.summary)
        XCTAssertEqual((try status()["rotation"] as? [String: Any])?["state"] as? String, "reencrypting")
        XCTAssertEqual(try status()["currentEpoch"] as? Int, before, "the refused rotate added no epoch")
        close(held)
        XCTAssertEqual(waitExit(pid), 0, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        for (name, data) in model { XCTAssertEqual(try readFile("\(m)/\(name)"), data, name) }
        vol.unmount()
        let f = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(f.status, 0, f.summary)
        XCTAssertEqual(walkHeaderEpochs().keys.sorted(), [try XCTUnwrap(before)])
    }

    /// The reverse: --reencrypt while a plain rotate is recorded is refused. The plain rotate's
    /// rewrap waits on a header whose lock another descriptor holds (the lock the daemon's re-key
    /// switch takes), so it cannot finish, nor rewrite that header, until the lock is gone.
    func testReencryptDuringPlainRotateIsRefusedAndRewrapTakesTheHeaderLock() throws {
        let model = try populateSmallFiles(400)
        let oldEpochs = walkHeaderEpochs().keys.sorted()
        let held = try lockSomeHeader()
        let log = makeTempFile()
        defer { unlink(log) }
        let pid = try spawnProcess(vol.bin, ["rotate", m] + key, stdout: log, stderr: log)
        try waitForRotationState("rewrapping", while: pid)
        let re = vol.tdefs(["rotate", m] + key + ["--reencrypt"])
        XCTAssertEqual(re.status, 15, re.summary)
        XCTAssertEqual((try status()["rotation"] as? [String: Any])?["state"] as? String, "rewrapping")
        var st: Int32 = 0
        XCTAssertEqual(waitpid(pid, &st, WNOHANG), 0, "the rewrap waits for the held header lock")
        let h = preadBytes(held, count: 12, at: 0).bytes
        XCTAssertEqual([Int(h[8]) << 24 | Int(h[9]) << 16 | Int(h[10]) << 8 | Int(h[11])], oldEpochs, "the locked header is not rewritten")
        close(held)
        XCTAssertEqual(waitExit(pid), 0, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        let again = vol.tdefs(["rotate", m] + key + ["--reencrypt"])
        XCTAssertEqual(again.status, 0, again.summary)
        for (name, data) in model { XCTAssertEqual(try readFile("\(m)/\(name)"), data, name) }
        vol.unmount()
        let f = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(f.status, 0, f.summary)
    }

    /// Both kinds started at the same moment, online, a few times: each ends done (0) or refused
    /// (15), never anything else, and every file reads back; fsck then finds nothing.
    func testPlainAndReencryptStartedTogether() throws {
        let model = try populateSmallFiles(300)
        for cycle in 0..<4 {
            let logs = [makeTempFile(), makeTempFile()]
            defer { logs.forEach { unlink($0) } }
            let order = cycle % 2 == 0 ? [["--reencrypt"], []] : [[], ["--reencrypt"]]
            let pids = try zip(order, logs).map { extra, log in try spawnProcess(vol.bin, ["rotate", m] + key + extra, stdout: log, stderr: log) }
            let codes = pids.map { waitExit($0) }
            for (code, log) in zip(codes, logs) {
                XCTAssertTrue(code == 0 || code == 15, "cycle \(cycle): exit \(code): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            XCTAssertTrue(codes.contains(0), "cycle \(cycle): one of them ran")
            for (name, data) in model { XCTAssertEqual(try readFile("\(m)/\(name)"), data, "cycle \(cycle): \(name)") }
        }
        XCTAssertTrue(try status()["rotation"] is NSNull, "no rotation left recorded")
        vol.unmount()
        let f = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(f.status, 0, f.summary)
    }

    /// The process holding the flock on BACKING/tdefs.lock.
    func daemonPID() -> pid_t? {
        let target = vol.backing + "/tdefs.lock"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), pid != getpid() else { continue }
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
                if (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == target { return pid }
            }
        }
        return nil
    }

    // MARK: retire and export

    func testRetiredKeyReadsNothingAndExportedKeyMountsAnOldCopy() throws {
        var rng = SeededRNG(seed: 0x5EED_0004)
        let model = try populate(&rng, files: 8)
        vol.unmount()
        let old = vol.base + "/backup-before-rotation"
        XCTAssertEqual(runCommand("/bin/cp", ["-a", vol.backing, old]).status, 0)
        let k2 = vol.base + "/export.key"
        vol.writeKeyFile(k2)
        let exported = vol.base + "/exported.conf"
        XCTAssertEqual(vol.tdefs(["export-key", vol.backing] + key + ["--epoch", "1", "--to-key-file", k2, "--output", exported]).status, 0)
        XCTAssertEqual(vol.tdefs(["retire", vol.backing] + key + ["--epoch", "1"]).status, 1, "epoch 1 still in use")
        XCTAssertEqual(vol.tdefs(["rotate", vol.backing] + key + ["--reencrypt"]).status, 0)
        XCTAssertEqual(try filesPerEpoch()[1], 0, "status says epoch 1 is unused")
        let r = vol.tdefs(["retire", vol.backing] + key + ["--epoch", "1"])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertNil(try filesPerEpoch()[1], "epoch 1 is gone from tdefs.conf")

        // The retired key alone, put on the current volume, opens nothing.
        let current = vol.base + "/current-copy"
        XCTAssertEqual(runCommand("/bin/cp", ["-a", vol.backing, current]).status, 0)
        XCTAssertEqual(runCommand("/bin/cp", [exported, current + "/tdefs.conf"]).status, 0)
        let m2 = vol.base + "/m2"
        mkdir(m2, 0o755)
        let attempt = vol.tdefs(["mount", current, m2, "--key-file", k2])
        if attempt.status == 0 {
            defer { _ = runCommand(Harness.which("fusermount3") ?? "/usr/bin/fusermount3", ["-u", m2]) }
            XCTAssertEqual((try? listDir(m2)) ?? [], [], "no name decrypts with the retired key")
        }
        // The exported key mounts the copy taken before the rotation.
        XCTAssertEqual(runCommand("/bin/cp", [exported, old + "/tdefs.conf"]).status, 0)
        let m3 = vol.base + "/m3"
        mkdir(m3, 0o755)
        let ok = vol.tdefs(["mount", old, m3, "--key-file", k2])
        XCTAssertEqual(ok.status, 0, ok.summary)
        defer { _ = runCommand(Harness.which("fusermount3") ?? "/usr/bin/fusermount3", ["-u", m3]) }
        try verify(model, in: m3)
    }

    func testStatusCountsMatchTheBackingDirectory() throws {
        var rng = SeededRNG(seed: 0x5EED_0005)
        _ = try populate(&rng, files: 12)
        XCTAssertEqual(vol.tdefs(["rotate", m] + key).status, 0)
        try writeFile("\(m)/after-rotation", "new epoch")
        vol.unmount()
        let walked = walkHeaderEpochs()
        let reported = try filesPerEpoch().filter { $0.value > 0 }
        XCTAssertEqual(reported, walked)
        XCTAssertEqual(walked.keys.sorted(), [2])
    }

    // MARK: cipher migration and audit trail

    func testReencryptMovesALegacyVolumeToAES256AndAuditsEveryKeyEvent() throws {
        vol.unmount()
        _ = runCommand("/bin/rm", ["-rf", vol.backing])
        let audit = vol.base + "/audit.log"
        let env = ["TDEFS_AUDIT_FILE": audit]
        XCTAssertEqual(vol.tdefs(["init", vol.backing] + key + ["--cipher", "aes-192-gcm"] + Self.generalProfile, env: env).status, 0)
        try vol.mount(env: env)
        var rng = SeededRNG(seed: 0x5EED_0006)
        let model = try populate(&rng, files: 6)
        XCTAssertEqual(try status()["cipher"] as? String, "AES-192-GCM")
        let wrong = vol.base + "/wrong.key"
        vol.writeKeyFile(wrong)
        XCTAssertEqual(vol.tdefs(["rotate", m, "--key-file", wrong], env: env).status, 10)
        let r = vol.tdefs(["rotate", m] + key + ["--reencrypt", "--cipher", "aes-256-gcm"], env: env)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try status()["cipher"] as? String, "AES-256-GCM")
        try verify(model, in: m)
        vol.unmount()
        // Every header now names cipher 1 (AES-256-GCM) and the new epoch.
        XCTAssertEqual(walkHeaderEpochs().keys.sorted(), [2])
        let e = FileManager.default.enumerator(atPath: vol.backing)
        while let rel = e?.nextObject() as? String {
            let p = vol.backing + "/" + rel
            guard !(rel as NSString).lastPathComponent.contains("."), let st = lstatOrNil(p),
                  (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 96 else { continue }
            let fd = open(p, O_RDONLY)
            XCTAssertEqual(preadBytes(fd, count: 1, at: 6).bytes, [1], rel)
            close(fd)
        }
        let pw = vol.base + "/pass"
        try writeFile(pw, "passphrase\n", mode: 0o600)
        XCTAssertEqual(vol.tdefs(["passwd", vol.backing] + key + ["--new-passphrase-file", pw], env: env.merging(scrypt) { a, _ in a }).status, 0)
        let export = vol.base + "/e.conf"
        XCTAssertEqual(vol.tdefs(["export-key", vol.backing, "--passphrase-file", pw, "--epoch", "1", "--to-key-file", vol.keyFile, "--output", export], env: env).status, 0)
        XCTAssertEqual(vol.tdefs(["retire", vol.backing, "--passphrase-file", pw, "--epoch", "1"], env: env).status, 0)

        let lines = (try String(contentsOfFile: audit, encoding: .utf8)).split(separator: "\n")
        let events = lines.compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            XCTAssertNotNil(o["time"]); XCTAssertNotNil(o["volume"])
            return o["event"] as? String
        }
        XCTAssertEqual(events.count, lines.count, "every audit line is one JSON object")
        for expected in ["init", "unlock", "unlock-failed", "rotate-started", "rotate-done", "passwd", "export-key", "retire"] {
            XCTAssertTrue(events.contains(expected), "audit has \(expected): \(events)")
        }
        // No key material: neither the key file's bytes nor the passphrase, in any usual encoding.
        let keyBytes = try readFile(vol.keyFile)
        let text = try String(contentsOfFile: audit, encoding: .utf8)
        for needle in [keyBytes.map { String(format: "%02x", $0) }.joined(), Data(keyBytes).base64EncodedString(), "passphrase"] {
            XCTAssertFalse(text.contains(needle), "audit log contains key material")
        }
    }
}
