import XCTest
import Glibc

/// Marker strings written through the mount into contents, names, symlink targets and xattrs must
/// not appear anywhere in the backing directory: not in any file's bytes, name, symlink target,
/// xattr name or xattr value.
final class LeakTests: MountTestCase {
    // These tests use user.* extended attributes on the mount.
    override var initOptions: [String] { Self.generalProfile }

    static let marker = "TDEFSLEAKMARKER"

    func testNoPlaintextInBackingDirectory() throws {
        let mk = Self.marker
        let content = Array(String(repeating: mk + " plaintext content ", count: 1000).utf8)  // several extents
        try writeFile("\(m)/\(mk)-file.txt", content)
        try writeFile("\(m)/small", mk)
        try check(mkdir("\(m)/\(mk)-dir", 0o755), "mkdir")
        try writeFile("\(m)/\(mk)-dir/\(mk)-inner", content)
        // A long name (stored under a hash, with its encrypted name beside it).
        let longName = mk + String(repeating: "x", count: 200) + mk
        try writeFile("\(m)/\(mk)-dir/\(longName)", mk)
        try check(mkdir("\(m)/\(mk)-dir/\(longName)-d", 0o755), "mkdir long")
        try check(symlink("\(mk)-target/\(mk)", "\(m)/\(mk)-link"), "symlink")
        try check(symlink(String(repeating: mk, count: 150), "\(m)/long-target-link"), "symlink long")
        // xattrs on a file and on a directory.
        XCTAssertEqual(setXattr("\(m)/small", "user.\(mk)", Array("\(mk)-value".utf8)), 0)
        XCTAssertEqual(setXattr("\(m)/\(mk)-dir", "user.\(mk)-dirattr", Array("\(mk)-dirvalue".utf8)), 0)
        XCTAssertEqual(setXattr("\(m)/\(mk)-file.txt", "user.plain", Array(String(repeating: mk, count: 100).utf8)), 0)
        // Everything reads back through the mount.
        XCTAssertEqual(try readFile("\(m)/\(mk)-file.txt"), content)
        XCTAssertEqual(readLink("\(m)/\(mk)-link"), "\(mk)-target/\(mk)")
        XCTAssertEqual(getXattr("\(m)/small", "user.\(mk)").value, Array("\(mk)-value".utf8))

        vol.unmount()
        XCTAssertFalse(isMounted(m))

        let needles = [mk, mk.lowercased(), String(mk.reversed())].map { Array($0.utf8) }
        var found = [String]()
        var walked = 0
        func contains(_ hay: [UInt8]) -> Bool {
            needles.contains { n in
                hay.count >= n.count && (0...(hay.count - n.count)).contains { i in hay[i] == n[0] && Array(hay[i..<(i + n.count)]) == n }
            }
        }
        func visit(_ path: String, name: String) throws {
            walked += 1
            if contains(Array(name.utf8)) { found.append("name: \(path)") }
            guard let st = lstatOrNil(path) else { throw PosixError(what: "lstat \(path)", code: errno) }
            for x in listXattrs(path) {
                if contains(x) { found.append("xattr name on \(path)") }
                let v = getXattr(path, String(decoding: x, as: UTF8.self)).value
                if contains(v) { found.append("xattr value on \(path)") }
            }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                if contains(try readFile(path)) { found.append("contents: \(path)") }
            case S_IFLNK:
                if contains(readLinkBytes(path) ?? []) { found.append("symlink target: \(path)") }
            case S_IFDIR:
                for n in try listDir(path) { try visit(path + "/" + n, name: n) }
            default: break
            }
        }
        try visit(vol.backing, name: "")
        XCTAssertGreaterThan(walked, 8, "the backing directory should hold the volume's entries")
        XCTAssertTrue(found.isEmpty, "plaintext marker found in the backing directory:\n" + found.joined(separator: "\n"))
    }
}
