import CPlatform
import Foundation
import Glibc
import XCTest

/// What binds a directory's parts to it in a format 3 volume (docs/threat-model.md, "Bindings"):
/// its tdefs.diriv is authenticated (an edited IV, or one stripped of its tag, is refused at the
/// mount and by fsck), a planted tdefs.diriv.next is refused, and its attributes are under keys
/// derived from its IV (one copied to another directory does not open there). What stays possible is stated by the last test: a whole entry,
/// a file or a symlink, copied over another anywhere in the volume reads as the copy.
final class DirectoryBindingTests: MountTestCase {
    // These tests use user.* extended attributes on the mount.
    override var initOptions: [String] { Self.generalProfile }

    /// Makes directories `names` through the mount, unmounts, and returns each one's backing path.
    func backingDirectories(_ names: [String]) throws -> [String: String] {
        var inodes: [UInt64: String] = [:]
        for name in names { inodes[UInt64(try XCTUnwrap(statOrNil("\(m)/\(name)")).st_ino)] = name }
        vol.unmount()
        var out: [String: String] = [:]
        for entry in try userDirectories(inBacking: vol.backing) {
            if let st = lstatOrNil(vol.backing + "/" + entry), let name = inodes[UInt64(st.st_ino)] { out[name] = vol.backing + "/" + entry }
        }
        XCTAssertEqual(out.count, names.count, "every directory found in the backing directory")
        return out
    }

    func makeDirectory(_ name: String, withFile file: String) throws {
        XCTAssertEqual(mkdir("\(m)/\(name)", 0o755), 0)
        try writeFile("\(m)/\(name)/\(file)", Array("inside \(name)".utf8))
    }

    /// Replaces a backing file's bytes (the IV file is mode 0400: root writes it anyway).
    func overwrite(_ path: String, _ bytes: [UInt8]) throws {
        XCTAssertEqual(unlink(path), 0, path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o400)
        try check(fd, "create \(path)")
        defer { close(fd) }
        try writeAll(fd, bytes, at: 0)
    }

    func listingErrno(_ path: String) -> Int32 {
        guard let d = opendir(path) else { return errno }
        defer { closedir(d) }
        errno = 0
        while readdir(d) != nil {}
        return errno
    }

    /// A directory IV whose IV bytes were changed: through the mount, listing or creating in it
    /// is an I/O error; fsck names its IV file as not authentic. (Before format 3 the edited IV
    /// was taken: the directory listed as empty, its names lost without a word about the IV.)
    func testEditedDirectoryIVIsRefused() throws {
        try makeDirectory("d", withFile: "f")
        let d = try XCTUnwrap(try backingDirectories(["d"])["d"])
        var iv = try readFile(d + "/tdefs.diriv")
        XCTAssertEqual(iv.count, 44, "a format 3 volume's IV file has its tag")
        iv[20] ^= 0x01
        try overwrite(d + "/tdefs.diriv", iv)
        try vol.mount()
        XCTAssertEqual(listingErrno("\(m)/d"), EIO, "listing a directory whose IV was edited")
        let fd = open("\(m)/d/new", O_WRONLY | O_CREAT, 0o644)
        let createErrno = fd < 0 ? errno : 0
        if fd >= 0 { close(fd) }
        XCTAssertEqual(createErrno, EIO, "no name is made under an edited IV")
        vol.unmount()
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--json"])
        XCTAssertEqual(r.status, 20, r.summary)
        XCTAssertTrue(r.stdout.contains("\"kind\": \"directoryIV\"") && r.stdout.contains("directory IV file does not authenticate"), r.stdout)
    }

    /// The same IV and epoch written back as a version-1 file (no tag): a format 3 volume refuses it.
    func testDirectoryIVStrippedOfItsTagIsRefused() throws {
        try makeDirectory("d", withFile: "f")
        let d = try XCTUnwrap(try backingDirectories(["d"])["d"])
        var iv = try readFile(d + "/tdefs.diriv")
        XCTAssertEqual(iv.count, 44, "a format 3 volume's IV file has its tag")
        iv = Array(iv[0..<28])
        iv[4] = 1
        try overwrite(d + "/tdefs.diriv", iv)
        try vol.mount()
        XCTAssertNil(statOrNil("\(m)/d/f"), "the names would decrypt under this IV, but it is not authenticated")
        XCTAssertEqual(listingErrno("\(m)/d"), EIO)
        vol.unmount()
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--json"])
        XCTAssertEqual(r.status, 20, r.summary)
        XCTAssertTrue(r.stdout.contains("is not authenticated (version 1)"), r.stdout)
    }

    /// Another directory's (authentic) IV planted as d's tdefs.diriv.next while no re-encryption
    /// is recorded: d gives EIO instead of moving its names to that IV (and then tagging it as its
    /// own), and fsck says why. (Before, the engine would have moved d to the planted IV.)
    func testPlantedNextIVIsRefused() throws {
        try makeDirectory("d", withFile: "f")
        try makeDirectory("other", withFile: "g")
        let dirs = try backingDirectories(["d", "other"])
        let d = try XCTUnwrap(dirs["d"]), other = try XCTUnwrap(dirs["other"])
        try writeFile(d + "/tdefs.diriv.next", try readFile(other + "/tdefs.diriv"), mode: 0o400)
        try vol.mount()
        XCTAssertEqual(listingErrno("\(m)/d"), EIO, "a planted next IV is refused")
        vol.unmount()
        XCTAssertEqual(try readFile(d + "/tdefs.diriv.next"), try readFile(other + "/tdefs.diriv"), "and left as it was, for fsck")
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--json"])
        XCTAssertEqual(r.status, 20, r.summary)
        XCTAssertTrue(r.stdout.contains("no re-encryption towards it is recorded"), r.stdout)
    }

    /// An attribute of directory a, copied with its backing name and value onto directory b (which
    /// has its own attribute of the same name), does not open in b: b reads its own value, lists one
    /// attribute, and fsck names the copy. (Before format 3 both directories' attributes were under
    /// the epoch's keys: the copy replaced b's and read back as a's value.)
    func testDirectoryAttributeCopiedToAnotherDirectoryDoesNotOpen() throws {
        for (dir, value) in [("a", "from a"), ("b", "from b")] {
            XCTAssertEqual(mkdir("\(m)/\(dir)", 0o755), 0)
            XCTAssertEqual(tdefs_setxattr("\(m)/\(dir)", "user.origin", value, value.utf8.count, 0), 0)
        }
        let dirs = try backingDirectories(["a", "b"])
        let a = try XCTUnwrap(dirs["a"]), b = try XCTUnwrap(dirs["b"])
        let names = backingAttributeNames(a)
        XCTAssertEqual(names.count, 1, "a has one user attribute in the backing directory")
        for name in names {
            var value = [UInt8](repeating: 0, count: 4096)
            let n = tdefs_getxattr(a, name, &value, value.count)
            XCTAssertGreaterThan(n, 0)
            XCTAssertEqual(tdefs_setxattr(b, name, value, n, 0), 0, "copy \(name) onto b")
        }
        try vol.mount()
        var buf = [UInt8](repeating: 0, count: 256)
        let n = tdefs_getxattr("\(m)/b", "user.origin", &buf, buf.count)
        XCTAssertEqual(n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "errno \(errno)", "from b", "b keeps its own attribute")
        XCTAssertEqual(backingAttributeNames("\(m)/b"), ["user.origin"], "the copy is not listed in b")
        vol.unmount()
        let r = vol.tdefs(["fsck", vol.backing, "--key-file", vol.keyFile, "--json"])
        XCTAssertEqual(r.status, 20, r.summary)
        XCTAssertTrue(r.stdout.contains("\"kind\": \"xattr\""), r.stdout)
    }

    /// What remains possible, by design (docs/threat-model.md): an entry's backing object copied
    /// over another's, anywhere in the volume, reads as the copy. A symlink's stored target is all
    /// of it, as a file's header and extents are all of a file: both are substitutions of a whole
    /// entry, which only binding an entry to its name would stop, and renames must stay atomic.
    func testWholeEntriesCanBeSubstitutedAnywhereInTheVolume() throws {
        XCTAssertEqual(mkdir("\(m)/x", 0o755), 0)
        XCTAssertEqual(mkdir("\(m)/y", 0o755), 0)
        try writeFile("\(m)/x/file", Array("x's file".utf8))
        try writeFile("\(m)/y/file", Array("y's file".utf8))
        XCTAssertEqual(symlink("x-target", "\(m)/x/link"), 0)
        XCTAssertEqual(symlink("y-target", "\(m)/y/link"), 0)
        var inodes: [UInt64: String] = [:]
        for p in ["x/file", "y/file", "x/link", "y/link"] { inodes[UInt64(try XCTUnwrap(lstatOrNil("\(m)/\(p)")).st_ino)] = p }
        vol.unmount()
        var backing: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: vol.backing)!
        while let rel = e.nextObject() as? String {
            if let st = lstatOrNil(vol.backing + "/" + rel), let p = inodes[UInt64(st.st_ino)] { backing[p] = vol.backing + "/" + rel }
        }
        XCTAssertEqual(backing.count, 4)
        for kind in ["file", "link"] {
            let from = try XCTUnwrap(backing["x/\(kind)"]), to = try XCTUnwrap(backing["y/\(kind)"])
            XCTAssertEqual(runCommand("/bin/cp", ["-P", "--remove-destination", from, to]).status, 0)
        }
        try vol.mount()
        XCTAssertEqual(String(decoding: try readFile("\(m)/y/file"), as: UTF8.self), "x's file")
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink("\(m)/y/link", &buf, buf.count)
        XCTAssertEqual(n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "errno \(errno)", "x-target")
    }

    /// The user.* attribute names of a path, as listxattr gives them.
    func backingAttributeNames(_ path: String) -> [String] {
        var buf = [CChar](repeating: 0, count: 65536)
        let n = tdefs_listxattr(path, &buf, buf.count)
        guard n > 0 else { return [] }
        return buf[0..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
            .filter { $0.hasPrefix("user.") }
    }
}
