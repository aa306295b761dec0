import Glibc
import XCTest

/// Symlink targets up to 4,095 bytes (PATH_MAX - 1, as on ext4): targets whose encrypted form does
/// not fit the backing symlink live in a side file `tdefs.target.<hash>` at the backing root
/// (docs/format.md, "Symlinks"), through every operation on names, fsck, rotation and import.
final class LongSymlinkTargetTests: MountTestCase {
    /// A target of `length` bytes made of path components, different for each `seed`.
    func target(_ length: Int, seed: Int = 0) -> String {
        var s = "/\(seed)-"
        while s.utf8.count < length { s += "component\(s.utf8.count % 97)/" }
        return String(s.utf8.prefix(length))!
    }

    /// The side files of long targets at the backing root.
    func sideFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: vol.backing).filter { $0.hasPrefix("tdefs.target.") }.sorted()
    }

    func testBoundaryLengths() throws {
        for length in [1, 3035, 3036, 4094, 4095] {
            let t = target(length, seed: length)
            XCTAssertEqual(errnoOf { symlink(t, "\(m)/l\(length)") }, 0, "\(length)-byte target")
            XCTAssertEqual(readLink("\(m)/l\(length)"), t, "\(length)-byte target reads back")
            XCTAssertEqual(lstatOrNil("\(m)/l\(length)")?.st_size, length, "lstat size of a \(length)-byte target")
        }
        XCTAssertEqual(errnoOf { symlink(target(4096), "\(m)/l4096") }, ENAMETOOLONG, "4096 bytes: ENAMETOOLONG, as on ext4")
        XCTAssertNil(lstatOrNil("\(m)/l4096"))
        XCTAssertEqual(try sideFiles().count, 3, "one side file each for the 3036-, 4094- and 4095-byte targets")

        vol.unmount()
        // Neither the backing symlinks nor the side files hold a plaintext path component.
        let grep = runCommand("/bin/grep", ["-r", "-l", "component", vol.backing])
        XCTAssertEqual(grep.status, 1, "plaintext found in the backing directory: \(grep.stdout)")
        let fsck = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(fsck.status, 0, fsck.summary)
        try vol.mount()
        for length in [1, 3035, 3036, 4094, 4095] {
            XCTAssertEqual(readLink("\(m)/l\(length)"), target(length, seed: length), "\(length) after a remount")
        }
    }

    /// Every name length class (short, longest in one entry, long-name entries, 255 bytes) with
    /// inline and side-file targets, through rename, link and unlink; side files go with the last link.
    func testNamesOfEveryLengthWithLongTargets() throws {
        try check(mkdir("\(m)/a", 0o755), "mkdir a")
        try check(mkdir("\(m)/b", 0o755), "mkdir b")
        let nameLengths = [1, 159, 160, 255]
        let targetLengths = [3035, 3036, 4095]
        var expected: [String: String] = [:]
        for (i, n) in nameLengths.enumerated() {
            for (j, t) in targetLengths.enumerated() {
                let name = String(repeating: Character(UnicodeScalar(UInt8(97 + i * targetLengths.count + j))), count: n)
                let tgt = target(t, seed: n * 10_000 + t)
                XCTAssertEqual(errnoOf { symlink(tgt, "\(m)/a/\(name)") }, 0, "name \(n), target \(t)")
                expected[name] = tgt
            }
        }
        XCTAssertEqual(try sideFiles().count, 8, "side files for the 3036- and 4095-byte targets")
        XCTAssertEqual(Set(try listDir("\(m)/a")), Set(expected.keys))
        for (name, tgt) in expected {
            XCTAssertEqual(readLink("\(m)/a/\(name)"), tgt)
            // Rename across directories to a name of another length class.
            let other = String(repeating: "z", count: 255 - name.count) + String(name.prefix(1))
            XCTAssertEqual(errnoOf { rename("\(m)/a/\(name)", "\(m)/b/\(other)") }, 0, "rename \(name.count)")
            XCTAssertEqual(readLink("\(m)/b/\(other)"), tgt)
            // A hard link to the symlink keeps the target when the first name goes.
            XCTAssertEqual(errnoOf { link("\(m)/b/\(other)", "\(m)/a/\(name)") }, 0, "link \(name.count)")
            XCTAssertEqual(lstatOrNil("\(m)/a/\(name)")?.st_nlink, 2)
            XCTAssertEqual(errnoOf { unlink("\(m)/b/\(other)") }, 0)
            XCTAssertEqual(readLink("\(m)/a/\(name)"), tgt, "the other link still reads its target")
        }
        XCTAssertEqual(try sideFiles().count, 8, "no side file went while a link remained")
        for name in expected.keys { XCTAssertEqual(errnoOf { unlink("\(m)/a/\(name)") }, 0) }
        XCTAssertEqual(try sideFiles(), [], "the last link took each side file with it")
    }

    func testRenameOverALongTargetRemovesItsSideFile() throws {
        XCTAssertEqual(errnoOf { symlink(target(4000, seed: 1), "\(m)/old") }, 0)
        XCTAssertEqual(errnoOf { symlink(target(4000, seed: 2), "\(m)/new") }, 0)
        XCTAssertEqual(try sideFiles().count, 2)
        XCTAssertEqual(errnoOf { rename("\(m)/new", "\(m)/old") }, 0)
        XCTAssertEqual(readLink("\(m)/old"), target(4000, seed: 2))
        XCTAssertEqual(try sideFiles().count, 1, "the replaced symlink's side file is gone")
        // Replaced while another link holds it: the side file stays.
        XCTAssertEqual(errnoOf { link("\(m)/old", "\(m)/kept") }, 0)
        try writeFile("\(m)/file", "x")
        XCTAssertEqual(errnoOf { rename("\(m)/file", "\(m)/old") }, 0)
        XCTAssertEqual(readLink("\(m)/kept"), target(4000, seed: 2))
        XCTAssertEqual(try sideFiles().count, 1)
        // RENAME_EXCHANGE moves names only.
        XCTAssertEqual(errnoOf { symlink("short", "\(m)/short") }, 0)
        XCTAssertEqual(renameat2("\(m)/kept", "\(m)/short", 2 /* RENAME_EXCHANGE */), 0)
        XCTAssertEqual(readLink("\(m)/short"), target(4000, seed: 2))
        XCTAssertEqual(readLink("\(m)/kept"), "short")
        XCTAssertEqual(try sideFiles().count, 1)
    }

    /// The two states a crash can leave (side file without its symlink; and, by damage, a symlink
    /// without its side file) are what fsck reports; the first is repaired, the second is damage.
    func testFsckFindsOrphanedAndMissingTargetFiles() throws {
        XCTAssertEqual(errnoOf { symlink(target(4095, seed: 1), "\(m)/kept") }, 0)
        XCTAssertEqual(errnoOf { symlink(target(4095, seed: 2), "\(m)/orphaned") }, 0)
        XCTAssertEqual(try sideFiles().count, 2)
        let keptSide = try backingSideFile(ofPlain: "kept")
        let orphanSide = try backingSideFile(ofPlain: "orphaned")
        vol.unmount()
        // A crash between writing a side file and making its symlink: remove the backing symlink.
        for l in try FileManager.default.contentsOfDirectory(atPath: vol.backing) where !l.contains(".") {
            if try FileManager.default.destinationOfSymbolicLink(atPath: vol.backing + "/" + l) == orphanSide {
                XCTAssertEqual(unlink(vol.backing + "/" + l), 0)
            }
        }
        XCTAssertEqual(try sideFiles().count, 2)
        let report = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(report.status, 0, "an orphan is a leftover, not damage: \(report.summary)")
        XCTAssertTrue(report.stdout.contains(orphanSide), report.stdout)
        XCTAssertTrue(report.stdout.contains("orphan"), report.stdout)
        let repair = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--repair"])
        XCTAssertEqual(repair.status, 0, repair.summary)
        XCTAssertEqual(try sideFiles(), [keptSide], "repair removed the orphan and kept the named one")
        let clean = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(clean.status, 0, clean.summary)
        XCTAssertFalse(clean.stdout.contains("orphan"), clean.stdout)

        // A side file lost or damaged: fsck reports damage (exit 20), readlink gives EIO.
        XCTAssertEqual(chmod(vol.backing + "/" + keptSide, 0o600), 0)
        let fd = open(vol.backing + "/" + keptSide, O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        // A different byte at offset 100 (writing a fixed one is no change when it is already there).
        let rfd = open(vol.backing + "/" + keptSide, O_RDONLY)
        var was: UInt8 = 0
        XCTAssertEqual(pread(rfd, &was, 1, 100), 1)
        close(rfd)
        var now: UInt8 = was == 0x58 ? 0x59 : 0x58
        XCTAssertEqual(pwrite(fd, &now, 1, 100), 1)
        close(fd)
        let damaged = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(damaged.status, 20, damaged.summary)
        XCTAssertTrue(damaged.stdout.contains("damaged"), damaged.stdout)
        XCTAssertEqual(unlink(vol.backing + "/" + keptSide), 0)
        let missing = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile])
        XCTAssertEqual(missing.status, 20, missing.summary)
        XCTAssertTrue(missing.stdout.contains("missing"), missing.stdout)
        try vol.mount()
        XCTAssertNil(readLink("\(m)/kept"))
        XCTAssertEqual(errno, EIO)
        XCTAssertTrue(vol.daemonLog().contains("symlink target file is missing"), vol.daemonLog())
    }

    /// The side file a mounted symlink's backing symlink names.
    func backingSideFile(ofPlain name: String) throws -> String {
        var st = stat()
        try check(lstat("\(m)/\(name)", &st), "lstat")
        for l in try FileManager.default.contentsOfDirectory(atPath: vol.backing) where !l.contains(".") {
            var b = stat()
            if lstat(vol.backing + "/" + l, &b) == 0, b.st_ino == st.st_ino {
                return try FileManager.default.destinationOfSymbolicLink(atPath: vol.backing + "/" + l)
            }
        }
        throw HarnessError("no backing symlink for \(name)")
    }

    func testReencryptionMovesLongTargetsAndTheOldEpochRetires() throws {
        let key = ["--key-file", vol.keyFile]
        try check(mkdir("\(m)/d", 0o755), "mkdir")
        let targets = [3035, 3036, 4095].map { target($0, seed: $0) }
        for (i, t) in targets.enumerated() {
            XCTAssertEqual(errnoOf { symlink(t, "\(m)/d/\(i)") }, 0)
        }
        XCTAssertEqual(errnoOf { link("\(m)/d/2", "\(m)/hard") }, 0)
        let before = try sideFiles()
        XCTAssertEqual(before.count, 2)
        let r = vol.tdefs(["rotate", m] + key + ["--reencrypt"])
        XCTAssertEqual(r.status, 0, r.summary)
        for (i, t) in targets.enumerated() { XCTAssertEqual(readLink("\(m)/d/\(i)"), t) }
        XCTAssertEqual(readLink("\(m)/hard"), targets[2])
        vol.unmount()
        let after = try sideFiles()
        XCTAssertTrue(Set(after).isDisjoint(with: before), "re-encrypted targets have new side files: \(before) \(after)")
        // Re-encryption gives each name of a hard-linked symlink a symlink of its own (as for short
        // targets): the 3036-byte target, and the 4095-byte one under its two names.
        XCTAssertEqual(after.count, 3, "\(after)")
        let fsck = vol.tdefs(["fsck", vol.backing] + key)
        XCTAssertEqual(fsck.status, 0, fsck.summary)
        XCTAssertFalse(fsck.stdout.contains("orphan"), fsck.stdout)
        let retire = vol.tdefs(["retire", vol.backing] + key + ["--epoch", "1"])
        XCTAssertEqual(retire.status, 0, retire.summary)
        try vol.mount()
        for (i, t) in targets.enumerated() { XCTAssertEqual(readLink("\(m)/d/\(i)"), t, "after retiring epoch 1") }
    }

    func testImportKeepsLongTargets() throws {
        let src = vol.base + "/plain-src"
        try check(mkdir(src, 0o755), "mkdir")
        let long = target(4095, seed: 7)
        let longName = String(repeating: "n", count: 255)
        XCTAssertEqual(symlink(long, src + "/" + longName), 0)
        XCTAssertEqual(symlink(target(3500, seed: 8), src + "/mid"), 0)
        let backing = vol.base + "/imported"
        let imp = vol.tdefs(["import", src, backing, "--key-file", vol.keyFile])
        XCTAssertEqual(imp.status, 0, imp.summary)
        let fsck = vol.tdefs(["fsck", backing, "--key-file", vol.keyFile])
        XCTAssertEqual(fsck.status, 0, fsck.summary)
        let mnt = vol.base + "/imported-mnt"
        mkdir(mnt, 0o755)
        let mr = vol.tdefs(["mount", backing, mnt, "--key-file", vol.keyFile])
        XCTAssertEqual(mr.status, 0, mr.summary)
        defer { _ = vol.tdefs(["unmount", mnt]) }
        XCTAssertEqual(readLink(mnt + "/" + longName), long)
        XCTAssertEqual(readLink(mnt + "/mid"), target(3500, seed: 8))
    }
}
