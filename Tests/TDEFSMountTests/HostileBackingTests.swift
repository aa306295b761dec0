import XCTest
import Foundation
import Glibc

/// Issue 19, item 8: whoever can write the backing directory cannot hang or crash tdefs. A FIFO or
/// a device node put in place of a file tdefs reads (tdefs.diriv, a long-name side file, a long
/// symlink target's side file, tdefs.conf, tdefs.lock, tdefs.conflock, tdefs.import) gives EIO for
/// that entry, or a clear error of the command, at once; the daemon keeps serving the rest. Every
/// command and every access to the mount runs in a child process with a deadline, so a hang fails
/// the test instead of blocking the run (the deadline bounds a hang; nothing is timed).
final class HostileBackingTests: XCTestCase {
    var vol: TestVolume!
    var m: String { vol.mnt }
    var key: [String] { ["--key-file", vol.keyFile] }
    /// Far above what any of these commands needs; a hang is forever.
    let deadline = 60

    override func setUpWithError() throws {
        vol = TestVolume(bin: try Harness.requireMountable(needsRoot: true), prefix: "tdefs-hostile")
        try vol.initVolume()
    }

    override func tearDown() {
        vol?.destroy()
        vol = nil
    }

    /// An access to the mount (or any program) in a child process, bounded by the deadline.
    func bounded(_ tool: String, _ args: [String]) -> CommandResult {
        runCommand(Harness.which(tool) ?? "/usr/bin/\(tool)", args, deadline: deadline)
    }

    func tdefs(_ args: [String]) -> CommandResult { vol.tdefs(args, deadline: deadline) }

    /// Plants `kind` at `path` for `body`, then puts the original file back. A reader still
    /// blocked on a FIFO (the failure this guards against) is released first, so that the
    /// daemon can be unmounted.
    func withPlanted(_ kind: Planted, at path: String, _ body: () throws -> Void) throws {
        let original = try? readFile(path)
        try kind.plant(at: path)
        defer {
            kind.releaseReaders(path)
            unlink(path)
            if let original { try? writeFile(path, original, mode: 0o400) }
            vol.unmount()
        }
        try body()
    }

    func assertFailsPromptly(_ r: CommandResult, _ what: String, message: String? = nil,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(r.hung, "\(what) hung: \(r.summary)", file: file, line: line)
        XCTAssertNotEqual(r.status, 0, "\(what) succeeded: \(r.summary)", file: file, line: line)
        XCTAssertLessThan(r.status, 128, "\(what) was killed by a signal: \(r.summary)", file: file, line: line)
        if let message {
            XCTAssertTrue(r.stderr.contains(message) || r.stdout.contains(message), "\(what) does not say \"\(message)\": \(r.summary)",
                          file: file, line: line)
        }
    }

    func assertSucceeds(_ r: CommandResult, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(r.hung, "\(what) hung: \(r.summary)", file: file, line: line)
        XCTAssertEqual(r.status, 0, "\(what): \(r.summary)", file: file, line: line)
    }

    /// The daemon still serves: a file outside the damaged entry reads and a new one can be written.
    func assertServing(_ tag: String, file: StaticString = #filePath, line: UInt = #line) {
        let cat = bounded("cat", [m + "/top"])
        XCTAssertEqual(cat.stdout, "outside", "the daemon stopped serving: \(cat.summary)", file: file, line: line)
        let touch = bounded("touch", [m + "/new-" + tag])
        XCTAssertEqual(touch.status, 0, "the daemon stopped serving: \(touch.summary)", file: file, line: line)
    }

    /// fsck answers at once, finds damage (exit 20) and names it.
    func assertFsckFindsDamage(_ detail: String, file: StaticString = #filePath, line: UInt = #line) {
        let fsck = tdefs(["fsck", vol.backing] + key)
        XCTAssertFalse(fsck.hung, "fsck hung: \(fsck.summary)", file: file, line: line)
        XCTAssertEqual(fsck.status, 20, fsck.summary, file: file, line: line)
        XCTAssertTrue(fsck.stdout.contains(detail), fsck.summary, file: file, line: line)
    }

    func backingDirectories() throws -> [String] { try userDirectories(inBacking: vol.backing) }

    func backingEntry(prefix: String, suffix: String = "") throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: vol.backing)
        return try XCTUnwrap(names.first { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) }, "no \(prefix)*\(suffix) in \(names)")
    }

    func testDirectoryIVReplacedByFIFOOrDevice() throws {
        try vol.mount()
        XCTAssertEqual(mkdir(m + "/d", 0o755), 0)
        try writeFile(m + "/d/f", "inside")
        try writeFile(m + "/top", "outside")
        vol.unmount()
        for kind in Planted.allCases {
            // (Looked up again each time: rotate --reencrypt renames the directory's backing entry.)
            let iv = vol.backing + "/" + (try XCTUnwrap(try backingDirectories().first)) + "/tdefs.diriv"
            try withPlanted(kind, at: iv) {
                try vol.mount()
                assertFailsPromptly(bounded("ls", [m + "/d"]), "ls of a directory whose IV is \(kind)", message: "Input/output error")
                assertFailsPromptly(bounded("stat", [m + "/d/f"]), "stat in a directory whose IV is \(kind)", message: "Input/output error")
                assertServing("\(kind)")
                vol.unmount()
                assertFsckFindsDamage("directory IV file is damaged")
                assertSucceeds(tdefs(["status", vol.backing, "--json"]), "status")
                assertSucceeds(tdefs(["rotate", vol.backing] + key), "rotate (headers only)")
            }
        }
        // Re-encryption reads every IV (last: it renames the directory's entry, the IV stays planted).
        let iv = vol.backing + "/" + (try XCTUnwrap(try backingDirectories().first)) + "/tdefs.diriv"
        try withPlanted(.fifo, at: iv) {
            assertFailsPromptly(tdefs(["rotate", vol.backing, "--reencrypt"] + key), "rotate --reencrypt")
        }
    }

    func testLongNameSideFileReplacedByFIFOOrDevice() throws {
        let long = String(repeating: "L", count: 200)
        try vol.mount()
        try writeFile(m + "/" + long, "long")
        try writeFile(m + "/top", "outside")
        vol.unmount()
        let side = vol.backing + "/" + (try backingEntry(prefix: "tdefs.long.", suffix: ".name"))
        for kind in Planted.allCases {
            try withPlanted(kind, at: side) {
                try vol.mount()
                let ls = bounded("ls", [m])
                XCTAssertFalse(ls.hung, "ls hung: \(ls.summary)")
                XCTAssertEqual(ls.status, 0, ls.summary)
                XCTAssertFalse(ls.stdout.contains(long), "the entry whose side file is \(kind) is listed: \(ls.summary)")
                XCTAssertTrue(ls.stdout.contains("top"), ls.summary)
                // A lookup derives the backing name from the plaintext name: it needs no side file.
                let stat = bounded("stat", [m + "/" + long])
                XCTAssertFalse(stat.hung, "stat hung: \(stat.summary)")
                XCTAssertEqual(stat.status, 0, stat.summary)
                assertServing("\(kind)")
                vol.unmount()
                assertFsckFindsDamage("long-name file is damaged")
            }
        }
    }

    func testSymlinkTargetSideFileReplacedByFIFOOrDevice() throws {
        let target = String(repeating: "t/", count: 2000)
        try vol.mount()
        XCTAssertEqual(symlink(target, m + "/link"), 0)
        try writeFile(m + "/top", "outside")
        vol.unmount()
        let side = vol.backing + "/" + (try backingEntry(prefix: "tdefs.target."))
        for kind in Planted.allCases {
            try withPlanted(kind, at: side) {
                try vol.mount()
                assertFailsPromptly(bounded("readlink", ["-v", m + "/link"]), "readlink of a target whose side file is \(kind)",
                                    message: "Input/output error")
                assertServing("\(kind)")
                vol.unmount()
                assertFsckFindsDamage("is damaged")
            }
        }
    }

    func testConfigReplacedByFIFOOrDevice() throws {
        let conf = vol.backing + "/tdefs.conf"
        for kind in Planted.allCases {
            try withPlanted(kind, at: conf) {
                for (what, args) in [("mount", ["mount", vol.backing, m] + key), ("status", ["status", vol.backing]),
                                     ("fsck", ["fsck", vol.backing] + key), ("rotate", ["rotate", vol.backing] + key)] {
                    let r = tdefs(args)
                    assertFailsPromptly(r, "\(what) with tdefs.conf \(kind)", message: "tdefs.conf is \(kind.article)")
                    XCTAssertEqual(r.status, 11, "\(what): \(r.summary)")
                }
                XCTAssertFalse(isMounted(m))
            }
        }
    }

    func testLockReplacedByFIFOOrDevice() throws {
        let lock = vol.backing + "/tdefs.lock"
        for kind in Planted.allCases {
            try withPlanted(kind, at: lock) {
                let status = tdefs(["status", vol.backing, "--json"])
                assertSucceeds(status, "status with tdefs.lock \(kind)")
                XCTAssertTrue(status.stdout.contains("\"mounted\":false") || status.stdout.contains("\"mounted\": false"), status.summary)
                for extra in [[], ["-f"]] {
                    let r = tdefs(["mount", vol.backing, m] + key + extra)
                    assertFailsPromptly(r, "mount \(extra) with tdefs.lock \(kind)", message: "tdefs.lock is \(kind.article)")
                    XCTAssertEqual(r.status, 11, r.summary)
                    XCTAssertFalse(isMounted(m))
                }
                let fsck = tdefs(["fsck", vol.backing, "--repair"] + key)
                assertSucceeds(fsck, "fsck --repair with tdefs.lock \(kind)")
            }
        }
        try vol.mount()
    }

    func testConfigLockReplacedByFIFOOrDevice() throws {
        let conflock = vol.backing + "/tdefs.conflock"
        let conf = vol.backing + "/tdefs.conf"
        for kind in Planted.allCases {
            try withPlanted(kind, at: conflock) {
                let before = try readFile(conf)
                let r = tdefs(["rotate", vol.backing] + key)
                assertFailsPromptly(r, "rotate with tdefs.conflock \(kind)", message: "tdefs.conflock is \(kind.article)")
                XCTAssertEqual(r.status, 11, r.summary)
                XCTAssertEqual(try readFile(conf), before, "tdefs.conf changed")
            }
        }
        assertSucceeds(tdefs(["rotate", vol.backing] + key), "rotate once tdefs.conflock is gone")
    }

    func testImportJournalReplacedByFIFOOrDevice() throws {
        try writeFile(vol.plain + "/a", "plain")
        let journal = vol.backing + "/tdefs.import"
        for kind in Planted.allCases {
            try withPlanted(kind, at: journal) {
                let r = tdefs(["import", vol.plain, vol.backing] + key)
                assertFailsPromptly(r, "import with tdefs.import \(kind)", message: "tdefs.import is \(kind.article)")
                XCTAssertEqual(r.status, 11, r.summary)
            }
        }
    }
}

/// Backing names of the user directories at the root of a backing directory (encrypted names
/// have no '.').
func userDirectories(inBacking backing: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: backing).filter { name in
        !name.contains(".") && (lstatOrNil(backing + "/" + name).map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false)
    }
}

/// What an attacker puts in place of a file tdefs reads.
enum Planted: String, CaseIterable, CustomStringConvertible {
    case fifo
    /// A character device with /dev/null's numbers (1, 3): opening it would run the driver.
    case characterDevice

    var description: String { self == .fifo ? "a FIFO" : "a character device" }
    var article: String { description }

    func plant(at path: String) throws {
        unlink(path)
        switch self {
        case .fifo: try check(mkfifo(path, 0o600), "mkfifo \(path)")
        case .characterDevice: try check(mknod(path, S_IFCHR | 0o600, dev_t(1 << 8 | 3)), "mknod \(path)")
        }
    }

    /// Opens a FIFO's writing end once without blocking: a reader stuck in open(2) goes on (and
    /// reads end-of-file). Nothing to do for a device.
    func releaseReaders(_ path: String) {
        guard self == .fifo else { return }
        for _ in 0..<4 {
            let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            if fd >= 0 { close(fd) }
        }
    }
}

/// Issue 19, item 8: tdefs removes its own temporaries (tdefs.tmp.*) with whatever lies below
/// them, and an attacker can plant one as deep as they like. The removal is iterative: a chain of
/// directories far deeper than a recursive removal's stack allows is removed by fsck --repair and
/// by an rmdir through the mount (whose daemon removes a directory's own leftovers), and the daemon
/// keeps serving.
final class DeepTreeRemovalTests: MountTestCase {
    override var needsRoot: Bool { true }
    /// Deeper than the 8 MiB stacks of the CLI's main thread and of the daemon's FUSE workers
    /// allow for a recursive removal (it crashed at this depth).
    static let depth = 100_000

    /// Makes `parent/name/d/d/.../d` (`depth` levels below `name`, a file at the bottom) through
    /// descriptors, as paths that long cannot be named.
    func plantChain(in parent: String, name: String, depth: Int = DeepTreeRemovalTests.depth) throws {
        var fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try check(fd, "open \(parent)")
        for level in 0...depth {
            let child = level == 0 ? name : "d"
            try check(mkdirat(fd, child, 0o700), "mkdirat at level \(level)")
            let next = openat(fd, child, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(fd)
            try check(next, "openat at level \(level)")
            fd = next
        }
        let file = openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if file >= 0 { close(file) }
        close(fd)
    }

    func testFsckRepairRemovesADeepPlantedTemporary() throws {
        vol.unmount()
        try plantChain(in: vol.backing, name: "tdefs.tmp.0123456789abcdef")
        let r = vol.tdefs(["fsck", vol.backing, "--repair", "--key-file", vol.keyFile], deadline: 600)
        XCTAssertFalse(r.hung, r.summary)
        XCTAssertEqual(r.status, 0, "fsck --repair of a deep leftover: \(r.summary)")
        XCTAssertNil(lstatOrNil(vol.backing + "/tdefs.tmp.0123456789abcdef"), "the leftover is still there")
        let again = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile], deadline: 600)
        XCTAssertEqual(again.status, 0, again.summary)
        XCTAssertTrue(again.stdout.contains("clean"), again.summary)
    }

    func testRmdirRemovesADeepPlantedTemporaryAndTheDaemonLives() throws {
        try writeFile(m + "/top", "outside")
        XCTAssertEqual(mkdir(m + "/d", 0o755), 0)
        let daemon = lockHolderPID(backing: vol.backing)
        let d = try XCTUnwrap(try userDirectories(inBacking: vol.backing).first)
        try plantChain(in: vol.backing + "/" + d, name: "tdefs.tmp.0123456789abcdef")
        let r = runCommand(Harness.which("rmdir") ?? "/usr/bin/rmdir", [m + "/d"], deadline: 600)
        XCTAssertFalse(r.hung, r.summary)
        XCTAssertEqual(r.status, 0, "rmdir of a directory holding a deep leftover: \(r.summary)\ndaemon log: \(vol.daemonLog())")
        XCTAssertNil(lstatOrNil(vol.backing + "/" + d), "the backing directory is still there")
        XCTAssertTrue(isMounted(m), "the daemon died: \(vol.daemonLog())")
        XCTAssertEqual(lockHolderPID(backing: vol.backing), daemon, "the daemon changed")
        XCTAssertEqual(try readFile(m + "/top"), Array("outside".utf8))
    }
}
