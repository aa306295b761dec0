import CPlatform
import Foundation
import TDEFSCore
import XCTest

/// `tdefs mount --ecryptfs LOWER MOUNTPOINT --ecryptfs-passphrase-file P -o ro` over a lower
/// directory written with ECryptfsEncoder (the real kernel's lower directories are mounted in
/// ECryptfsFixtureTests): names, contents at every size class, a subdirectory, symlinks, user.*
/// attributes, read-only answers, a lower directory left exactly as it was, a wrong passphrase
/// refused before anything is mounted.
final class ECryptfsMountTests: XCTestCase {
    static let passphrase = Array("correct horse battery".utf8)
    static let mountKey = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: passphrase), salt: ECryptfsPassphraseKey.defaultSalt)
    static let fnek = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: passphrase), salt: ECryptfsPassphraseKey.fnekSalt)

    var vol: TestVolume!
    var lower: String { vol.backing }

    override func setUpWithError() throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        vol = TestVolume(bin: bin, prefix: "tdefs-ecryptfs-mount")
        try Data("correct horse battery\n".utf8).write(to: URL(fileURLWithPath: vol.base + "/passphrase"))
        try Data("wrong horse\n".utf8).write(to: URL(fileURLWithPath: vol.base + "/wrong"))
        chmod(vol.base + "/passphrase", 0o600)
        chmod(vol.base + "/wrong", 0o600)
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
    }

    func pattern(_ n: Int, seed: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ seed &* 7 &+ ($0 >> 12)) } }

    func lowerName(_ s: String, keyBytes: Int) -> String {
        String(decoding: ECryptfsEncoder.encryptName(Array(s.utf8), fnek: Self.fnek, keyBytes: keyBytes), as: UTF8.self)
    }

    func writeFile(_ rel: String, _ plain: [UInt8], keyBytes: Int) throws {
        let fek = (0..<keyBytes).map { UInt8($0 * 5 + 3) }
        let h = ECryptfsEncoder.header(size: UInt64(plain.count), fek: fek, key: Self.mountKey, inXattr: false, encryptFilenames: true)
        try Data(h + ECryptfsEncoder.extents(plain, fek: fek)).write(to: URL(fileURLWithPath: lower + "/" + rel))
    }

    /// Every lower entry's path, type, size and content hash: what must not change.
    func snapshot() -> [String] {
        let r = runCommand("/bin/sh", ["-c", "cd \"$0\" && find . -printf '%p %y %s %m\\n' | sort && find . -type f -exec sha256sum {} + | sort", lower])
        return r.stdout.split(separator: "\n").map(String.init)
    }

    func mountArgs(_ passphrase: String = "passphrase", options: String = "ro") -> [String] {
        ["mount", "--ecryptfs", lower, vol.mnt, "--ecryptfs-passphrase-file", vol.base + "/" + passphrase, "-o", options]
    }

    func testServesTheLowerDirectoryReadOnly() throws {
        var expected: [String: [UInt8]] = [:]
        for (i, n) in [0, 1, 4095, 4096, 4097, 1 << 20 | 1].enumerated() {
            let keyBytes = [16, 24, 32][i % 3]
            expected["file-\(n)"] = pattern(n, seed: i)
            try writeFile(lowerName("file-\(n)", keyBytes: 16), expected["file-\(n)"]!, keyBytes: keyBytes)
        }
        let sub = lowerName("sub dir é", keyBytes: 16)
        XCTAssertEqual(mkdir(lower + "/" + sub, 0o750), 0)
        try writeFile(sub + "/" + lowerName("inner", keyBytes: 16), Array("inner contents".utf8), keyBytes: 32)
        XCTAssertEqual(symlink(lowerName("sub dir é/inner", keyBytes: 16), lower + "/" + lowerName("link", keyBytes: 16)), 0)
        let tagged = lower + "/" + lowerName("file-1", keyBytes: 16)
        XCTAssertEqual(tdefs_setxattr(tagged, "user.origin", "backup", 6, 0), 0)
        let before = snapshot()

        let r = vol.tdefs(mountArgs(), env: ["TDEFS_LOG_FILE": vol.logFile])
        XCTAssertEqual(r.status, 0, r.summary + vol.daemonLog())
        guard isMounted(vol.mnt) else { return XCTFail("not mounted: " + vol.daemonLog()) }
        defer { XCTAssertEqual(vol.tdefs(["unmount", vol.mnt]).status, 0) }

        let names = try FileManager.default.contentsOfDirectory(atPath: vol.mnt).sorted()
        XCTAssertEqual(names, (Array(expected.keys) + ["link", "sub dir é"]).sorted(), vol.daemonLog())
        for (name, bytes) in expected {
            let got = try Data(contentsOf: URL(fileURLWithPath: vol.mnt + "/" + name))
            XCTAssertEqual(Array(got), bytes, name)
            var st = stat()
            XCTAssertEqual(lstat(vol.mnt + "/" + name, &st), 0)
            XCTAssertEqual(Int(st.st_size), bytes.count, name)
        }
        XCTAssertEqual(try String(contentsOfFile: vol.mnt + "/sub dir é/inner", encoding: .utf8), "inner contents")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: vol.mnt + "/link"), "sub dir é/inner")
        XCTAssertEqual(try String(contentsOfFile: vol.mnt + "/link", encoding: .utf8), "inner contents")
        var value = [UInt8](repeating: 0, count: 64)
        let n = tdefs_getxattr(vol.mnt + "/file-1", "user.origin", &value, value.count)
        XCTAssertEqual(n, 6)
        XCTAssertEqual(Array(value.prefix(max(n, 0))), Array("backup".utf8))

        // Read-only: no write, create, remove or attribute change reaches the lower directory.
        XCTAssertEqual(open(vol.mnt + "/file-1", O_WRONLY), -1)
        XCTAssertEqual(errno, EROFS)
        XCTAssertEqual(open(vol.mnt + "/new", O_WRONLY | O_CREAT, 0o644), -1)
        XCTAssertEqual(unlink(vol.mnt + "/file-0"), -1)
        XCTAssertEqual(chmod(vol.mnt + "/file-0", 0o777), -1)
        XCTAssertEqual(snapshot(), before)
    }

    func testWrongPassphraseIsRefusedAndNothingMounted() throws {
        try writeFile(lowerName("only", keyBytes: 16), Array("x".utf8), keyBytes: 16)
        let before = snapshot()
        let r = vol.tdefs(mountArgs("wrong"))
        XCTAssertEqual(r.status, 10, r.summary)
        XCTAssertTrue(r.stderr.contains("wrong passphrase"), r.stderr)
        XCTAssertFalse(isMounted(vol.mnt))
        XCTAssertEqual(snapshot(), before)
    }

    func testReadWriteAndKeyOptionsAreRefused() throws {
        let rw = vol.tdefs(mountArgs(options: "rw"))
        XCTAssertEqual(rw.status, 2, rw.summary)
        let withKey = vol.tdefs(mountArgs() + ["--key-file", vol.keyFile])
        XCTAssertEqual(withKey.status, 2, withKey.summary)
        let noKeys = vol.tdefs(["mount", "--ecryptfs", lower, vol.mnt, "-o", "ro"])
        XCTAssertEqual(noKeys.status, 2, noKeys.summary)
        XCTAssertFalse(isMounted(vol.mnt))
    }
}
