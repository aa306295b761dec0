import CPlatform
import Glibc
import XCTest

/// Sizes past what the format can hold give EFBIG; the daemon never traps on them.
final class LimitsTests: MountTestCase {
    func testHugeTruncateAndFallocateGiveEFBIGAndTheDaemonLives() throws {
        try writeFile("\(m)/f", "small")
        XCTAssertEqual(errnoOf { truncate("\(m)/f", off_t(9_200_000_000_000_000_000)) }, EFBIG)
        let fd = open("\(m)/f", O_RDWR)
        try check(fd, "open")
        XCTAssertEqual(errnoOf { tdefs_fallocate(fd, 0, 9_200_000_000_000_000_000, 4096) }, EFBIG)
        // With the kernel's writeback cache a buffered write is only checked when it reaches the
        // daemon: EFBIG comes from pwrite or, at the latest, from the fsync that follows.
        let wrote = pwrite(fd, "x", 1, off_t(Int64.max - 10))
        if wrote < 0 {
            XCTAssertEqual(errno, EFBIG)
        } else {
            XCTAssertEqual(errnoOf { fsync(fd) }, EFBIG, "the write past the limit is refused by fsync")
        }
        close(fd)
        vol.unmount()
        try vol.mount()
        XCTAssertEqual(try readFile("\(m)/f"), Array("small".utf8), "the file is unchanged and the mount answers")
    }
}

/// Maintenance runs whatever open-file limit it is started with: the CLI raises its own (issue
/// 19, item 6). A volume of 5,000 directories is rotated, re-encrypted and checked by commands
/// started, as systemd starts services, with a soft limit of 1,024 open files (the hard limit
/// left as it is).
final class MaintenanceOpenFileLimitTests: MountTestCase {
    func testFiveThousandDirectoriesRotateUnderALowLimit() throws {
        for i in 0..<5000 { XCTAssertEqual(mkdir("\(m)/d\(i)", 0o755), 0) }
        try writeFile("\(m)/d4999/f", "inside the last directory")
        vol.unmount()
        let key = ["--key-file", vol.keyFile]
        var rl = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl), 0)
        XCTAssertGreaterThan(rl.rlim_max, 6000, "the hard limit leaves room for 5,000 directories")
        for args in [["rotate", vol.backing] + key + ["--reencrypt"], ["rotate", vol.backing] + key, ["fsck", vol.backing] + key] {
            let r = runCommand("/usr/bin/prlimit", ["--nofile=1024:\(rl.rlim_max)", vol.bin] + args)
            XCTAssertEqual(r.status, 0, "\(args[0]) under 1,024 open files: \(r.summary)")
        }
        try vol.mount()
        XCTAssertEqual(try listDir(m).count, 5000)
        XCTAssertEqual(String(decoding: try readFile("\(m)/d4999/f"), as: UTF8.self), "inside the last directory")
    }
}

/// The daemon holds one descriptor per inode the kernel remembers; it raises its own soft limit
/// of open files to the hard one, so a tree larger than the soft limit it started with stays usable.
final class OpenFileLimitTests: MountTestCase {
    override var needsRoot: Bool { true }

    /// Mounts the volume again from a process whose open-file limit is `limit` (prlimit syntax).
    func remount(nofile limit: String) throws {
        vol.unmount()
        let prlimit = try XCTUnwrap(Harness.which("prlimit"), "prlimit (util-linux) is needed")
        let r = runCommand(prlimit, ["--nofile=" + limit, "--", vol.bin, "mount", vol.backing, m, "--key-file", vol.keyFile],
                           env: ["TDEFS_LOG_FILE": vol.logFile])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(isMounted(m))
    }

    func testMoreFilesThanTheStartingDescriptorLimit() throws {
        try remount(nofile: "256:")
        let count = 1500
        for i in 0..<count {
            try writeFile("\(m)/f\(i)", "content \(i)")
        }
        // Every file is still known to the kernel (and so holds a descriptor in the daemon).
        for i in 0..<count {
            XCTAssertEqual(try readFile("\(m)/f\(i)"), Array("content \(i)".utf8))
        }
    }

    /// With a hard limit the daemon cannot raise, a directory with many more files than the limit
    /// stays usable: the daemon asks the kernel to forget unused entries before it runs out.
    func testMoreFilesThanTheHardDescriptorLimit() throws {
        try remount(nofile: "512:512")
        let count = 3000
        try check(mkdir("\(m)/d", 0o755), "mkdir")
        for i in 0..<count {
            try writeFile("\(m)/d/f\(i)", "content \(i)")
        }
        // A listing with attributes registers every entry again; then every file by name.
        let listed = try listDir("\(m)/d")
        XCTAssertEqual(listed.count, count)
        for name in listed {
            var st = stat()
            XCTAssertEqual(lstat("\(m)/d/\(name)", &st), 0, "\(name): \(String(cString: strerror(errno)))")
        }
        for i in 0..<count {
            XCTAssertEqual(try readFile("\(m)/d/f\(i)"), Array("content \(i)".utf8))
        }
        // (A listing burst may still meet the limit for a moment: those entries then go to the
        // kernel without attributes, and the lookups above found them.)
    }
}
