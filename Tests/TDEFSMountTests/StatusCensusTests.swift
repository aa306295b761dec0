import XCTest
import Foundation
import Glibc

/// `tdefs status` of a mounted volume takes its counts from the daemon's census (no walk of the
/// backing tree), and they agree with a walk after the unmount.
final class StatusCensusTests: MountTestCase {
    struct Status {
        var json: [String: Any]
        var files: [Int: Int] {
            var out: [Int: Int] = [:]
            for e in json["epochs"] as? [[String: Any]] ?? [] { out[e["epoch"] as? Int ?? -1] = e["files"] as? Int }
            return out
        }
        var census: [String: String] { json["census"] as? [String: String] ?? [:] }
    }

    func status(_ path: String) throws -> Status {
        let r = vol.tdefs(["status", path, "--json"])
        guard r.status == 0, let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw HarnessError("tdefs status \(path) --json: \(r.summary)")
        }
        return Status(json: obj)
    }

    /// Every change that moves a count, through the mount.
    func makeTree() throws {
        try check(mkdir("\(m)/a", 0o755), "mkdir a")
        try check(mkdir("\(m)/a/b", 0o755), "mkdir a/b")
        for i in 0..<20 { try writeFile("\(m)/a/f\(i)", "file \(i)") }
        for i in 0..<5 { try writeFile("\(m)/a/b/g\(i)", "") }
        try check(link("\(m)/a/f0", "\(m)/hard"), "link")
        try check(symlink("a/f1", "\(m)/sym"), "symlink")
        try check(symlink(String(repeating: "long/", count: 700), "\(m)/a/longsym"), "long symlink")
        try check(rename("\(m)/a/f2", "\(m)/a/f3"), "rename over")
        try check(rename("\(m)/a/f4", "\(m)/a/b/f4"), "rename across")
        try check(unlink("\(m)/a/f5"), "unlink")
        try check(mkdir("\(m)/gone", 0o755), "mkdir gone")
        try check(rmdir("\(m)/gone"), "rmdir")
        try check(rename("\(m)/a/b", "\(m)/b-moved"), "move a directory")
        try check(mkfifo("\(m)/fifo", 0o644), "mkfifo")
    }

    func testMountedStatusComesFromTheDaemonAndMatchesAWalk() throws {
        try makeTree()
        let mounted = try status(m)
        XCTAssertEqual(mounted.census["source"], "daemon", "\(mounted.json)")
        XCTAssertEqual(mounted.census["state"], "current")
        XCTAssertEqual(mounted.json["mounted"] as? Bool, true)
        XCTAssertEqual(mounted.files, [1: 24], "17 files left in a, 5 + 1 moved in b, 1 hard link")

        // A file put into the backing directory behind the daemon: a walk would count it, the
        // daemon's census (which status uses) does not see it.
        let backingFile = try listDir(vol.backing).first { name in
            !name.contains(".") && (lstatOrNil(vol.backing + "/" + name).map { $0.st_mode & S_IFMT == S_IFREG } ?? false)
        }
        let planted = vol.backing + "/PLANTEDbehindTheDaemonsBack0"
        try writeFile(planted, try readFile(vol.backing + "/" + XCTUnwrap(backingFile)))
        let again = try status(vol.backing)
        XCTAssertEqual(again.census["source"], "daemon", "a backing path of a mounted volume asks the daemon too")
        XCTAssertEqual(again.files, mounted.files, "no walk: the planted file is not counted")

        vol.unmount()
        let walkedWithPlant = try status(vol.backing)
        XCTAssertEqual(walkedWithPlant.census["source"], "walk")
        XCTAssertEqual(walkedWithPlant.json["mounted"] as? Bool, false)
        XCTAssertEqual(walkedWithPlant.files, [1: 25], "the walk sees the planted file")
        XCTAssertEqual(unlink(planted), 0)
        let walked = try status(vol.backing)
        XCTAssertEqual(walked.files, mounted.files, "the daemon's census is what a walk finds")
        for key in ["filesWithUnknownEpoch", "damagedHeaders", "unreadableEntries"] {
            XCTAssertEqual(walked.json[key] as? Int, mounted.json[key] as? Int, key)
        }
    }

    func testCensusAfterAnOnlineRotationAndReencryption() throws {
        try makeTree()
        let key = ["--key-file", vol.keyFile]
        let rotate = vol.tdefs(["rotate", m] + key)
        XCTAssertEqual(rotate.status, 0, rotate.summary)
        let afterRotate = try status(m)
        XCTAssertEqual(afterRotate.census["source"], "daemon")
        XCTAssertEqual(afterRotate.census["state"], "current", "recounted when the rewrap ended")
        XCTAssertEqual(afterRotate.files, [1: 0, 2: 24], "\(afterRotate.json)")

        let reencrypt = vol.tdefs(["rotate", m, "--reencrypt"] + key)
        XCTAssertEqual(reencrypt.status, 0, reencrypt.summary)
        let afterReencrypt = try status(m)
        XCTAssertEqual(afterReencrypt.census["state"], "current")
        XCTAssertEqual(afterReencrypt.files, [1: 0, 2: 0, 3: 24], "\(afterReencrypt.json)")
        try writeFile("\(m)/new-after-rotation", "x")
        XCTAssertEqual(try status(m).files, [1: 0, 2: 0, 3: 25])

        vol.unmount()
        let walked = try status(vol.backing)
        XCTAssertEqual(walked.census["source"], "walk")
        XCTAssertEqual(walked.files, [1: 0, 2: 0, 3: 25])
    }
}
