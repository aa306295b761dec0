import CPlatform
import Foundation
import Glibc
import TDEFSCore
import XCTest

/// Issue 14, item 2: `tdefs import --from-ecryptfs`. The lower directories here are written with
/// ECryptfsEncoder (the real-kernel fixtures of Tests/Fixtures/ECryptfs are imported by
/// ECryptfsFixtureImportTests once they are committed): the plaintext tree is made with the
/// shell tools first, then every entry is encrypted into a lower directory with the same owners,
/// modes, times, links and xattrs; the import is mounted and compared with the plaintext tree.
final class ECryptfsImportTests: XCTestCase {
    static let passphrase = "an eCryptfs mount passphrase"

    /// Encrypts plaintext tree `src` into lower directory `dst` (FNEK names, AES key of `keyBytes`).
    func encryptTree(_ src: String, _ dst: String, keyBytes: Int, extraName: (String, String)? = nil) throws {
        let pass = SecureBytes(copying: Array(Self.passphrase.utf8))
        let key = ECryptfsPassphraseKey(passphrase: pass, salt: ECryptfsPassphraseKey.defaultSalt)
        let fnek = ECryptfsPassphraseKey(passphrase: pass, salt: ECryptfsPassphraseKey.fnekSalt)
        func lower(_ name: String) -> String {
            String(decoding: ECryptfsEncoder.encryptName(Array(name.utf8), fnek: fnek, keyBytes: keyBytes), as: UTF8.self)
        }
        var links: [String: String] = [:]
        var dirs: [(String, stat)] = []
        func walk(_ s: String, _ d: String) throws {
            for name in try FileManager.default.contentsOfDirectory(atPath: s).sorted() {
                let sp = s + "/" + name, dp = d + "/" + lower(name)
                var st = stat()
                XCTAssertEqual(lstat(sp, &st), 0)
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    XCTAssertEqual(mkdir(dp, 0o700), 0)
                    try walk(sp, dp)
                    dirs.append((dp, st))
                    continue
                case S_IFLNK:
                    let t = try FileManager.default.destinationOfSymbolicLink(atPath: sp)
                    XCTAssertEqual(symlink(lower(t), dp), 0)
                case S_IFREG:
                    let k = "\(st.st_ino)"
                    if st.st_nlink > 1, let first = links[k] { XCTAssertEqual(link(first, dp), 0); continue }
                    links[k] = dp
                    let plain = [UInt8](try Data(contentsOf: URL(fileURLWithPath: sp)))
                    let fek = (0..<keyBytes).map { UInt8(($0 * 7 + plain.count) & 0xff) }
                    let h = ECryptfsEncoder.header(size: UInt64(plain.count), fek: fek, key: key, encryptFilenames: true)
                    try Data(h + ECryptfsEncoder.extents(plain, fek: fek)).write(to: URL(fileURLWithPath: dp))
                    var v = [UInt8](repeating: 0, count: 256)
                    let n = v.withUnsafeMutableBytes { tdefs_getxattr(sp, "user.color", $0.baseAddress, $0.count) }
                    if n > 0 { XCTAssertEqual(tdefs_setxattr(dp, "user.color", v, n, 0), 0) }
                default: continue
                }
                XCTAssertEqual(lchown(dp, st.st_uid, st.st_gid), 0)
                if st.st_mode & S_IFMT != S_IFLNK { XCTAssertEqual(chmod(dp, st.st_mode & 0o7777), 0) }
                var ts = [st.st_atim, st.st_mtim]
                XCTAssertEqual(utimensat(AT_FDCWD, dp, &ts, AT_SYMLINK_NOFOLLOW), 0)
            }
        }
        try walk(src, dst)
        for (dp, st) in dirs.reversed() {
            XCTAssertEqual(chown(dp, st.st_uid, st.st_gid), 0)
            XCTAssertEqual(chmod(dp, st.st_mode & 0o7777), 0)
            var ts = [st.st_atim, st.st_mtim]
            XCTAssertEqual(utimensat(AT_FDCWD, dp, &ts, AT_SYMLINK_NOFOLLOW), 0)
        }
        var rs = stat()
        XCTAssertEqual(lstat(src, &rs), 0)
        XCTAssertEqual(chmod(dst, rs.st_mode & 0o7777), 0)
        var ts = [rs.st_atim, rs.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, dst, &ts, 0), 0)
    }

    func makePlainTree(_ src: String) {
        let script = """
            set -e
            cd "$1"
            mkdir -p a/b "dir with space"
            printf 'hello\\n' > a/f
            head -c 1048577 /dev/urandom > a/b/big
            head -c 4095 /dev/urandom > s4095; head -c 4096 /dev/urandom > s4096; head -c 4097 /dev/urandom > s4097
            printf x > one; : > emptyfile
            ln a/f hardlink1
            ln -s ../f a/b/rel-symlink
            printf 'non-ascii\\n' > "café ü"
            sqlite3 db.sqlite "create table t(a integer primary key, b text); with recursive c(x) as (select 1 union all select x+1 from c where x < 2000) insert into t select x, hex(randomblob(40)) from c;"
            setfattr -n user.color -v blue a/f
            chown 101:104 a/f a/b
            chmod 0640 a/f; chmod 2750 a/b
            touch -h -d '2001-02-03 04:05:06.123456789' a/b/rel-symlink
            touch -d '2020-01-02 03:04:05.987654321' a/b/big a/b emptyfile
            touch -d '1999-12-31 23:59:59.5' a "dir with space" .
            """
        let r = runCommand("/bin/bash", ["-c", script, "setup", src])
        XCTAssertEqual(r.status, 0, r.summary)
    }

    func testImportFromECryptfsMountsIdenticalToThePlaintext() throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        let vol = TestVolume(bin: bin, prefix: "tdefs-ECImport")
        defer { vol.destroy() }
        makePlainTree(vol.plain)
        let lowerDir = vol.base + "/lower"
        mkdir(lowerDir, 0o755)
        try encryptTree(vol.plain, lowerDir, keyBytes: 24)
        let passFile = vol.base + "/ec.pass"
        try Data((Self.passphrase + "\n").utf8).write(to: URL(fileURLWithPath: passFile))
        let lowerBefore = DBImportTests.listing(lowerDir, ctime: true)

        // A wrong passphrase: refused, nothing written.
        let wrongFile = vol.base + "/wrong.pass"
        try Data("not it\n".utf8).write(to: URL(fileURLWithPath: wrongFile))
        let refusedBacking = vol.base + "/refused"
        let wrong = vol.tdefs(["import", "--from-ecryptfs", lowerDir, refusedBacking, "--key-file", vol.keyFile,
                               "--ecryptfs-passphrase-file", wrongFile])
        XCTAssertEqual(wrong.status, 10, wrong.summary)
        XCTAssertTrue(wrong.stderr.contains("wrong passphrase"), wrong.stderr)
        XCTAssertFalse(wrong.stderr.contains("not it"))
        XCTAssertEqual(access(refusedBacking, F_OK), -1, "a wrong passphrase must leave BACKING unwritten")

        let backing = vol.base + "/imported"
        let imp = vol.tdefs(["import", "--from-ecryptfs", lowerDir, backing, "--key-file", vol.keyFile,
                             "--ecryptfs-passphrase-file", passFile])
        XCTAssertEqual(imp.status, 0, imp.summary)
        XCTAssertTrue(imp.stdout.contains("imported"), imp.stdout)
        XCTAssertEqual(DBImportTests.listing(lowerDir, ctime: true), lowerBefore, "the lower directory changed")
        let conf = try String(contentsOfFile: backing + "/tdefs.conf", encoding: .utf8)
        XCTAssertTrue(conf.contains("192"), "an AES-192 source makes an AES-192 volume: \(conf)")

        let mnt = vol.base + "/mnt-imported"
        mkdir(mnt, 0o755)
        let m = vol.tdefs(["mount", backing, mnt, "--key-file", vol.keyFile, "-o", "allow_other"])
        XCTAssertEqual(m.status, 0, m.summary)
        defer { _ = vol.tdefs(["unmount", mnt]) }
        let la = DBImportTests.listing(vol.plain, ctime: false), lb = DBImportTests.listing(mnt, ctime: false)
        XCTAssertEqual(la, lb)
        XCTAssertEqual(DBImportTests.contentHashes(vol.plain), DBImportTests.contentHashes(mnt))
        XCTAssertEqual(DBImportTests.xattrs(vol.plain), DBImportTests.xattrs(mnt))
        var s1 = stat()
        XCTAssertEqual(lstat(mnt + "/a/f", &s1), 0)
        XCTAssertEqual(s1.st_nlink, 2)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: mnt + "/a/b/rel-symlink"), "../f")
        let ic = runCommand("/usr/bin/sqlite3", [mnt + "/db.sqlite", "PRAGMA integrity_check; select count(*) from t;"])
        XCTAssertEqual(ic.stdout, "ok\n2000\n", ic.summary)
    }

    func testWrappedPassphraseCollisionAndResume() throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        let vol = TestVolume(bin: bin, prefix: "tdefs-ECImport2")
        defer { vol.destroy() }
        let r = runCommand("/bin/bash", ["-c", "set -e; cd \"$1\"; for i in $(seq 1 200); do head -c 20000 /dev/urandom > f$i; done", "x", vol.plain])
        XCTAssertEqual(r.status, 0, r.summary)
        let lowerDir = vol.base + "/lower"
        mkdir(lowerDir, 0o755)
        try encryptTree(vol.plain, lowerDir, keyBytes: 16)
        let wrapped = vol.base + "/wrapped-passphrase", login = vol.base + "/login"
        try Data(ECryptfsEncoder.wrappedPassphrase(Array(Self.passphrase.utf8), login: SecureBytes(copying: Array("login pw".utf8)),
                                                   salt: [3, 1, 4, 1, 5, 9, 2, 6])).write(to: URL(fileURLWithPath: wrapped))
        try Data("login pw\n".utf8).write(to: URL(fileURLWithPath: login))
        let args = ["--key-file", vol.keyFile, "--ecryptfs-wrapped-passphrase", wrapped, "--login-passphrase-file", login]

        // Interrupted, then resumed.
        let backing = vol.base + "/imported"
        let journal = backing + "/tdefs.import"
        let first = try Background(bin, ["import", "--from-ecryptfs", lowerDir, backing] + args,
                                   env: ["TDEFS_IMPORT_CHECKPOINT_ENTRIES": "5"])
        let deadline = DB.now() + 120
        while first.running && DB.now() < deadline
                && DB.readFile(journal).split(separator: "\n").filter({ $0.hasPrefix("done ") }).count < 2 {
            usleep(1_000)
        }
        first.signal(SIGKILL)
        XCTAssertEqual(first.wait(), 128 + SIGKILL, "the import finished before it could be interrupted")
        let second = vol.tdefs(["import", "--from-ecryptfs", lowerDir, backing] + args)
        XCTAssertEqual(second.status, 0, second.summary)
        XCTAssertTrue(second.stderr.contains("resuming"), second.stderr)
        let mnt = vol.base + "/mnt"
        mkdir(mnt, 0o755)
        let m = vol.tdefs(["mount", backing, mnt, "--key-file", vol.keyFile])
        XCTAssertEqual(m.status, 0, m.summary)
        XCTAssertEqual(DBImportTests.contentHashes(vol.plain), DBImportTests.contentHashes(mnt))
        _ = vol.tdefs(["unmount", mnt])

        // A plaintext-named copy of an encrypted file decrypts to the same name: an error.
        let some = try FileManager.default.contentsOfDirectory(atPath: lowerDir).sorted()[0]
        let plainName = try ECryptfsLowerDirectory(path: lowerDir, keys: ECryptfsKeys(mountPassphrase: SecureBytes(copying: Array(Self.passphrase.utf8))))
            .entries(of: .root).first { $0.lowerName == Array(some.utf8) }!.name!
        try FileManager.default.copyItem(atPath: lowerDir + "/" + some, toPath: lowerDir + "/" + String(decoding: plainName, as: UTF8.self))
        let collided = vol.base + "/collided"
        let c = vol.tdefs(["import", "--from-ecryptfs", lowerDir, collided] + args)
        XCTAssertEqual(c.status, 1, c.summary)
        XCTAssertTrue(c.stderr.contains("decrypt to the same name"), c.stderr)
    }
}
