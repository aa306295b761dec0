import XCTest
import Foundation
import Glibc

/// Mounted by root with -o allow_other: another user (nobody) creates a file, which belongs to
/// that user in the mount and in the backing directory; the kernel checks permissions.
final class AllowOtherTests: MountTestCase {
    override var mountOptions: [String] { ["allow_other"] }
    override var needsRoot: Bool { true }

    func nobody() throws -> (uid: uid_t, gid: gid_t) {
        guard let pw = getpwnam("nobody") else { throw HarnessError("no user nobody") }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    /// Runs a shell command as nobody.
    func asNobody(_ script: String) throws -> CommandResult {
        let (uid, gid) = try nobody()
        guard let setpriv = Harness.which("setpriv") else { throw HarnessError("setpriv (util-linux) is missing") }
        return runCommand(setpriv, ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", "/bin/sh", "-c", script])
    }

    func testOtherUsersFilesAndPermissions() throws {
        let (uid, gid) = try nobody()
        XCTAssertEqual(chmod(m, 0o755), 0)
        XCTAssertEqual(mkdir("\(m)/shared", 0o777), 0)
        XCTAssertEqual(chmod("\(m)/shared", 0o1777), 0)
        try writeFile("\(m)/secret", "root only", mode: 0o600)
        XCTAssertEqual(chmod("\(m)/secret", 0o600), 0)

        let r = try asNobody("echo 'written by nobody' > '\(m)/shared/mine' && cat '\(m)/shared/mine'")
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(r.stdout, "written by nobody\n")
        let st = lstatOrNil("\(m)/shared/mine")
        XCTAssertEqual(st?.st_uid, uid, "owner in the mount")
        XCTAssertEqual(st?.st_gid, gid)
        XCTAssertEqual(try readFile("\(m)/shared/mine"), Array("written by nobody\n".utf8))

        // The backing file: the one entry in the backing directory of "shared".
        let dirs = try listDir(vol.backing).filter { !$0.contains(".") && lstatOrNil(vol.backing + "/" + $0).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false }
        XCTAssertEqual(dirs.count, 1)
        if let d = dirs.first {
            let inner = try listDir(vol.backing + "/" + d).filter { !$0.contains(".") }
            XCTAssertEqual(inner.count, 1)
            if let f = inner.first {
                XCTAssertEqual(lstatOrNil(vol.backing + "/" + d + "/" + f)?.st_uid, uid, "owner of the backing file")
                XCTAssertEqual(lstatOrNil(vol.backing + "/" + d + "/" + f)?.st_gid, gid)
            }
        }

        // Kernel permission checks (default_permissions).
        let denied = try asNobody("cat '\(m)/secret'")
        XCTAssertNotEqual(denied.status, 0)
        XCTAssertTrue(denied.stderr.contains("Permission denied"), denied.summary)
        let noCreate = try asNobody("echo x > '\(m)/not-allowed'")
        XCTAssertNotEqual(noCreate.status, 0)
        XCTAssertTrue(noCreate.stderr.contains("Permission denied"), noCreate.summary)
        XCTAssertNil(lstatOrNil("\(m)/not-allowed"))
        // Sticky directory: nobody cannot remove root's file in it.
        try writeFile("\(m)/shared/roots", "r")
        let sticky = try asNobody("rm -f '\(m)/shared/roots'")
        XCTAssertNotEqual(sticky.status, 0, sticky.summary)
        XCTAssertNotNil(lstatOrNil("\(m)/shared/roots"))
        // But may remove its own.
        XCTAssertEqual(try asNobody("rm '\(m)/shared/mine'").status, 0)
        XCTAssertNil(lstatOrNil("\(m)/shared/mine"))
    }
}
