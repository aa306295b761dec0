import XCTest
import Foundation
import Glibc

/// Issue #3, item 7: `tdefs import PLAIN_DIR BACKING [KEY]`. A real PostgreSQL data directory is
/// imported (the first run SIGKILLed after its first checkpoints, the second resuming), the new
/// volume is mounted where the server expects its data directory, and the server starts with the
/// same rows. A synthetic tree checks owners, modes, times, hard links, symlinks, xattrs, special
/// files, holes and long names. In both, the plaintext source is compared before and after
/// (ctime included): it is never modified.
final class DBImportTests: XCTestCase {
    /// `find` listing: path, size, mode, owner, group, links, mtime (ns), type, symlink target;
    /// with `ctime`, the ctime too (it moves on any change to the inode).
    static func listing(_ dir: String, ctime: Bool) -> String {
        // A directory's st_size is that of its backing directory on tdefs (docs/posix-differences.md): not compared.
        let format = "%p %m %U %G %n %T@ %y %l" + (ctime ? " %C@" : "")
        let r = runCommand("/bin/sh", ["-c", "cd \"$0\" && { find . ! -type d -printf '\(format) %s\\n'; find . -type d -printf '\(format)\\n'; } | LC_ALL=C sort", dir])
        return r.stdout
    }

    static func contentHashes(_ dir: String) -> String {
        runCommand("/bin/sh", ["-c", "cd \"$0\" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum", dir]).stdout
    }

    static func xattrs(_ dir: String) -> String {
        runCommand("/bin/sh", ["-c", "cd \"$0\" && find . ! -type l -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m '^user\\.' 2>/dev/null", dir]).stdout
    }

    /// The mount's root takes the source root's ownership, mode and times: compare "." too.
    func assertSameTree(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) {
        let la = Self.listing(a, ctime: false), lb = Self.listing(b, ctime: false)
        XCTAssertEqual(la, lb, "listings differ:\n\(diffLines(la, lb))", file: file, line: line)
        XCTAssertEqual(Self.contentHashes(a), Self.contentHashes(b), "contents differ", file: file, line: line)
        XCTAssertEqual(Self.xattrs(a), Self.xattrs(b), "user.* xattrs differ", file: file, line: line)
    }

    func diffLines(_ a: String, _ b: String) -> String {
        let sa = Set(a.split(separator: "\n")), sb = Set(b.split(separator: "\n"))
        return "only in source:\n" + sa.subtracting(sb).sorted().prefix(20).joined(separator: "\n")
            + "\nonly in copy:\n" + sb.subtracting(sa).sorted().prefix(20).joined(separator: "\n")
    }

    func testImportKeepsOwnersModesTimesLinksXattrsAndSourceUntouched() throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        let vol = TestVolume(bin: bin, prefix: "tdefs-DBImportMeta")
        defer { vol.destroy() }
        let src = vol.plain
        let script = """
            set -e
            cd "$1"
            mkdir -p a/b/c empty "dir with space"
            printf 'hello\\n' > a/f
            head -c 3000000 /dev/urandom > a/b/big
            head -c 5000 /dev/urandom > a/b/c/small
            : > emptyfile
            ln a/f hardlink1
            ln a/f a/b/hardlink2
            ln -s ../f a/b/rel-symlink
            ln -s /nonexistent/target dangling
            mkfifo fifo
            truncate -s 20M sparse
            printf 'tail' | dd of=sparse bs=1 seek=10485760 conv=notrunc status=none
            long=$(printf 'L%.0s' $(seq 1 230))
            printf 'long name\\n' > "$long"
            setfattr -n user.color -v blue a/f
            setfattr -n user.bin -v 0x00ff00ff a/b/big
            setfattr -n user.dir -v yes a
            chown 101:104 a/f a/b
            chown 102:105 a/b/c/small
            chmod 0640 a/f
            chmod 4755 a/b/big
            chmod 2750 a/b
            chmod 0400 a/b/c/small
            chmod 0705 a
            touch -h -d '2001-02-03 04:05:06.123456789' a/b/rel-symlink
            touch -d '2020-01-02 03:04:05.987654321' a/b/big a/b/c a/b/c/small emptyfile empty
            touch -d '1999-12-31 23:59:59.5' a/b a "dir with space" .
            """
        let r = runCommand("/bin/bash", ["-c", script, "setup", src])
        XCTAssertEqual(r.status, 0, r.summary)
        let before = Self.listing(src, ctime: true)
        let hashes = Self.contentHashes(src)

        let backing = vol.base + "/imported"
        let imp = vol.tdefs(["import", src, backing, "--key-file", vol.keyFile])
        XCTAssertEqual(imp.status, 0, imp.summary)
        XCTAssertTrue(imp.stdout.contains("imported"), imp.stdout)
        XCTAssertEqual(access(backing + "/tdefs.import", F_OK), -1, "the journal must be gone after a finished import")
        XCTAssertEqual(Self.listing(src, ctime: true), before, "the source changed")
        XCTAssertEqual(Self.contentHashes(src), hashes)

        let fsck = vol.tdefs(["fsck", backing, "--key-file", vol.keyFile])
        XCTAssertEqual(fsck.status, 0, fsck.summary)
        let mnt = vol.base + "/imported-mnt"
        mkdir(mnt, 0o755)
        let m = vol.tdefs(["mount", backing, mnt, "--key-file", vol.keyFile, "-o", "allow_other"])
        XCTAssertEqual(m.status, 0, m.summary)
        defer { _ = vol.tdefs(["unmount", mnt]) }
        assertSameTree(src, mnt)
        // Hard links stay links: one inode, three names.
        var s1 = stat(), s2 = stat()
        XCTAssertEqual(lstat(mnt + "/a/f", &s1), 0)
        XCTAssertEqual(lstat(mnt + "/a/b/hardlink2", &s2), 0)
        XCTAssertEqual(s1.st_ino, s2.st_ino)
        XCTAssertEqual(s1.st_nlink, 3)
        // A new import into a non-empty directory that is no interrupted import is refused.
        let again = vol.tdefs(["import", src, backing, "--key-file", vol.keyFile])
        XCTAssertNotEqual(again.status, 0)
    }

    func testImportPostgresDataDirectoryInterruptedAndResumed() throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        let vol = TestVolume(bin: bin, prefix: "tdefs-DBImportPG")
        defer { vol.destroy() }
        // A plaintext cluster, as on a server before tdefs.
        let plainData = vol.plain + "/15/main"
        try DB.makeDir(vol.plain + "/15", owner: "postgres", mode: 0o755)
        let sock = vol.base + "/sock", log = vol.base + "/pg.log"
        let plainPG = PGCluster(dataDir: plainData, socketDir: sock, logFile: log)
        try plainPG.initdb()
        try plainPG.start()
        var running: PGCluster? = plainPG
        defer { if let p = running { try? p.stop(mode: "immediate") } }
        try plainPG.psql("CREATE TABLE items (id int PRIMARY KEY, name text, qty int)")
        try plainPG.psql("INSERT INTO items SELECT g, md5(g::text), g % 97 FROM generate_series(1, 200000) g")
        try plainPG.psql("CREATE INDEX items_name ON items (name)")
        try DB.must(as: "postgres", try DB.pg("pgbench"), plainPG.connArgs + ["-i", "-s", "2", "-q", "postgres"])
        let expected = try plainPG.psql("SELECT count(*), sum(qty), md5(string_agg(name, ',' ORDER BY id)) FROM items")
        let accounts = try plainPG.psql("SELECT sum(abalance), count(*) FROM pgbench_accounts")
        try plainPG.stop()
        running = nil
        let before = Self.listing(plainData, ctime: true)
        let hashes = Self.contentHashes(plainData)

        // First run: SIGKILLed once its journal records completed entries.
        let backing = vol.base + "/pg.enc"
        let journal = backing + "/tdefs.import"
        let first = try Background(bin, ["import", plainData, backing, "--key-file", vol.keyFile],
                                   env: ["TDEFS_IMPORT_CHECKPOINT_ENTRIES": "20"])
        let deadline = DB.now() + 120
        while first.running && DB.now() < deadline
                && DB.readFile(journal).split(separator: "\n").filter({ $0.hasPrefix("done ") }).count < 2 {
            usleep(2_000)
        }
        first.signal(SIGKILL)
        let firstStatus = first.wait()
        XCTAssertEqual(firstStatus, 128 + SIGKILL, "the import finished before it could be interrupted: \(first.stdoutText)")
        XCTAssertEqual(access(journal, F_OK), 0, "no journal after the interrupted import")
        let doneBefore = DB.readFile(journal).split(separator: "\n").last { $0.hasPrefix("done ") } ?? "none"
        // The same command again resumes from the journal.
        let t0 = DB.now()
        let second = vol.tdefs(["import", plainData, backing, "--key-file", vol.keyFile])
        let seconds = DB.now() - t0
        XCTAssertEqual(second.status, 0, second.summary)
        XCTAssertTrue(second.stderr.contains("resuming"), second.stderr)
        XCTAssertTrue(second.stdout.contains("done before the interruption"), second.stdout)
        XCTAssertEqual(access(journal, F_OK), -1)
        print("db figure: import of a PostgreSQL data directory: interrupted after \(doneBefore) entries, resumed in "
              + "\(String(format: "%.1f", seconds)) s: \(second.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        XCTAssertEqual(Self.listing(plainData, ctime: true), before, "the source changed")
        XCTAssertEqual(Self.contentHashes(plainData), hashes, "the source's contents changed")
        let fsck = vol.tdefs(["fsck", backing, "--key-file", vol.keyFile])
        XCTAssertEqual(fsck.status, 0, fsck.summary)

        // Mount it as the data directory and start the server on it.
        let mnt = vol.base + "/main"
        mkdir(mnt, 0o755)
        let m = vol.tdefs(["mount", backing, mnt, "--key-file", vol.keyFile, "-o", "allow_other"])
        XCTAssertEqual(m.status, 0, m.summary)
        defer { _ = vol.tdefs(["unmount", mnt]) }
        assertSameTree(plainData, mnt)
        let pg = PGCluster(dataDir: mnt, socketDir: sock, logFile: log, port: plainPG.port)
        try pg.start()
        running = pg
        XCTAssertEqual(try pg.psql("SELECT count(*), sum(qty), md5(string_agg(name, ',' ORDER BY id)) FROM items"), expected)
        XCTAssertEqual(try pg.psql("SELECT sum(abalance), count(*) FROM pgbench_accounts"), accounts)
        _ = try pg.amcheck()
        try pg.psql("INSERT INTO items VALUES (0, 'after import', 1)")
        try pg.stop()
        running = nil
        _ = try pg.checksums()
    }
}
