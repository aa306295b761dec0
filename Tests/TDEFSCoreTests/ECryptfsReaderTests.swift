import CPlatform
import Foundation
import TDEFSCore
import XCTest

/// ECryptfsLowerDirectory over a lower directory written with ECryptfsEncoder (the real-kernel
/// fixtures are tested in ECryptfsFixtureTests): contents at every size class, names, symlinks,
/// xattr metadata, user.* xattrs, wrong keys, damaged files, collisions, concurrent reads.
final class ECryptfsReaderTests: XCTestCase {
    static let passphrase = Array("correct horse battery".utf8)
    static let mountKey = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: passphrase), salt: ECryptfsPassphraseKey.defaultSalt)
    static let fnek = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: passphrase), salt: ECryptfsPassphraseKey.fnekSalt)

    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "ecryptfs-reader-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func pattern(_ n: Int, seed: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ seed &* 7 &+ ($0 >> 12)) } }

    func lowerName(_ s: String, keyBytes: Int = 16) -> String {
        String(decoding: ECryptfsEncoder.encryptName(Array(s.utf8), fnek: Self.fnek, keyBytes: keyBytes), as: UTF8.self)
    }

    @discardableResult
    func writeFile(_ rel: String, _ plain: [UInt8], keyBytes: Int = 16, inXattr: Bool = false) throws -> String {
        let fek = (0..<keyBytes).map { UInt8($0 * 3 + 1) }
        let h = ECryptfsEncoder.header(size: UInt64(plain.count), fek: fek, key: Self.mountKey, inXattr: inXattr, encryptFilenames: true)
        let body = ECryptfsEncoder.extents(plain, fek: fek)
        let path = dir + "/" + rel
        if inXattr {
            try Data(body).write(to: URL(fileURLWithPath: path))
            XCTAssertEqual(h.withUnsafeBytes { tdefs_setxattr(path, "user.ecryptfs", $0.baseAddress, $0.count, 0) }, 0)
        } else {
            try Data(h + body).write(to: URL(fileURLWithPath: path))
        }
        return path
    }

    func keys(_ p: [UInt8] = passphrase) -> ECryptfsKeys { ECryptfsKeys(mountPassphrase: SecureBytes(copying: p)) }

    func testContentsNamesAndKinds() throws {
        let sizes = [0, 1, 4095, 4096, 4097, 1 << 20 | 1]
        var expected: [String: [UInt8]] = [:]
        for (i, n) in sizes.enumerated() {
            let name = "file-\(n)"
            expected[name] = pattern(n, seed: i)
            try writeFile(lowerName(name, keyBytes: [16, 24, 32][i % 3]), expected[name]!, keyBytes: [16, 24, 32][i % 3])
        }
        expected["xattr-meta"] = pattern(5000, seed: 99)
        try writeFile(lowerName("xattr-meta"), expected["xattr-meta"]!, inXattr: true)
        let sub = lowerName("sub dir é")
        try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: false)
        try writeFile(sub + "/" + lowerName("inner"), Array("inner".utf8))
        XCTAssertEqual(symlink(lowerName("../target/path"), dir + "/" + lowerName("link")), 0)
        XCTAssertEqual(symlink("plain-target", dir + "/plain-link"), 0)

        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys())
        let entries = try lower.entries(of: .root)
        var byName: [String: ECryptfsEntry] = [:]
        for e in entries {
            XCTAssertNil(e.nameError, "\(e.path)")
            XCTAssertNil(e.headerError, "\(e.path)")
            byName[String(decoding: e.name!, as: UTF8.self)] = e
        }
        XCTAssertEqual(Set(byName.keys), Set(expected.keys).union(["sub dir é", "link", "plain-link"]))
        XCTAssertTrue(ECryptfsLowerDirectory.collisions(in: entries).isEmpty)
        for (name, plain) in expected {
            let e = byName[name]!
            XCTAssertEqual(e.kind, .regular)
            XCTAssertEqual(e.stat.st_size, plain.count, name)
            XCTAssertEqual(try lower.stat(e.path).st_size, plain.count)
            let f = try lower.openFile(e.path)
            XCTAssertEqual(f.size, Int64(plain.count))
            XCTAssertEqual(try f.readAll(), plain, name)
            XCTAssertEqual(f.metadataInXattr, name == "xattr-meta")
            // Reads across extent boundaries at odd offsets.
            if plain.count > 5000 {
                var buf = [UInt8](repeating: 0, count: 5000)
                let n = try buf.withUnsafeMutableBytes { try f.read(into: $0, at: 4000) }
                XCTAssertEqual(n, 5000)
                XCTAssertEqual(buf, Array(plain[4000..<9000]))
            }
            var tail = [UInt8](repeating: 0, count: 10)
            XCTAssertEqual(try tail.withUnsafeMutableBytes { try f.read(into: $0, at: Int64(plain.count)) }, 0)
        }
        XCTAssertEqual(byName["sub dir é"]!.kind, .directory)
        let inner = try lower.entries(of: byName["sub dir é"]!.path)
        XCTAssertEqual(inner.map { $0.name! }, [Array("inner".utf8)])
        XCTAssertEqual(try lower.openFile(inner[0].path).readAll(), Array("inner".utf8))
        XCTAssertEqual(byName["link"]!.kind, .symlink)
        XCTAssertEqual(try lower.readLink(byName["link"]!.path), Array("../target/path".utf8))
        XCTAssertEqual(try lower.readLink(byName["plain-link"]!.path), Array("plain-target".utf8))
    }

    func testUserXattrsWithoutTheMetadataXattr() throws {
        let p = try writeFile(lowerName("x"), [1, 2, 3], inXattr: true)
        XCTAssertEqual(tdefs_setxattr(p, "user.app", "v1", 2, 0), 0)
        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys())
        let e = try lower.entries(of: .root)[0]
        let x = try lower.extendedAttributes(e.path)
        XCTAssertEqual(x.map(\.name), ["user.app"])
        XCTAssertEqual(x.first?.value, Array("v1".utf8))
    }

    func testWrongPassphraseIsRefusedBySignature() throws {
        try writeFile(lowerName("db"), pattern(10000, seed: 1))
        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys(Array("wrong".utf8)))
        let e = try lower.entries(of: .root)[0]
        guard case .wrongKey(_, let sig)? = e.nameError else { return XCTFail("\(String(describing: e.nameError))") }
        XCTAssertEqual(sig, Self.fnek.signature)
        XCTAssertNil(e.headerError)  // the header parses; the key is checked when the file is opened
        do {
            _ = try lower.openFile(e.path)
            XCTFail("opened with a wrong key")
        } catch {
            guard case .wrongKey(let path, let s2) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(s2, Self.mountKey.signature)
            XCTAssertTrue(path.hasPrefix(dir))
            XCTAssertTrue(error.description.contains("wrong passphrase"))
        }
    }

    func testSeparateFNEKPassphrase() throws {
        let other = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: Array("names".utf8)), salt: ECryptfsPassphraseKey.fnekSalt)
        try writeFile(String(decoding: ECryptfsEncoder.encryptName(Array("n1".utf8), fnek: other, keyBytes: 16), as: UTF8.self), [9])
        let k = ECryptfsKeys(mountPassphrase: SecureBytes(copying: Self.passphrase), fnekPassphrase: SecureBytes(copying: Array("names".utf8)))
        XCTAssertEqual(k.fnekSignature, other.signature)
        XCTAssertEqual(k.mountSignature, Self.mountKey.signature)
        let lower = try ECryptfsLowerDirectory(path: dir, keys: k)
        let e = try lower.entries(of: .root)[0]
        XCTAssertEqual(e.name, Array("n1".utf8))
        XCTAssertEqual(try lower.openFile(e.path).readAll(), [9])
    }

    func testDamagedFilesAreReportedByPathNotCrashed() throws {
        let good = pattern(9000, seed: 3)
        let p = try writeFile(lowerName("damaged"), good)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        bytes[10] ^= 0xff  // marker
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/" + lowerName("tiny")))
        try Data().write(to: URL(fileURLWithPath: dir + "/" + lowerName("empty-lower")))
        try Data().write(to: URL(fileURLWithPath: dir + "/ECRYPTFS_FNEK_ENCRYPTED.not+valid"))
        try Data().write(to: URL(fileURLWithPath: dir + "/ECRYPTFS_FNEK_ENCRYPTED.FXa"))
        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys())
        let entries = try lower.entries(of: .root)
        XCTAssertEqual(entries.count, 5)
        for e in entries {
            XCTAssertTrue(e.headerError != nil, "\(e.path)")
            if let err = e.headerError { XCTAssertTrue(err.path.hasPrefix(dir), err.description) }
            XCTAssertThrowsError(try lower.openFile(e.path))
        }
        XCTAssertEqual(entries.filter { $0.nameError != nil }.count, 2)
        for e in entries where e.nameError != nil {
            guard case .malformed(let path, _)? = e.nameError else { return XCTFail() }
            XCTAssertTrue(path.hasPrefix(dir + "/ECRYPTFS_FNEK_ENCRYPTED."))
        }
    }

    func testLowerFileShorterThanItsSizeReadsZerosPastTheEnd() throws {
        let plain = pattern(3 * 4096, seed: 5)
        let p = try writeFile(lowerName("short"), plain)
        XCTAssertEqual(truncate(p, off_t(8192 + 4096)), 0)
        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys())
        let all = try lower.openFile(try lower.entries(of: .root)[0].path).readAll()
        XCTAssertEqual(Array(all[0..<4096]), Array(plain[0..<4096]))
        XCTAssertEqual(Array(all[4096...]), [UInt8](repeating: 0, count: 8192))
    }

    /// A lower name without the FNEK prefix passes through as the plaintext name (the kernel
    /// does this): a copy of an encrypted file under its plaintext name collides with it.
    func testPlaintextNameCollisionIsDetected() throws {
        let p = try writeFile(lowerName("same"), [1])
        try FileManager.default.copyItem(atPath: p, toPath: dir + "/same")
        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys())
        let c = ECryptfsLowerDirectory.collisions(in: try lower.entries(of: .root))
        XCTAssertEqual(c.count, 1)
        XCTAssertEqual(c.first?.count, 2)
        XCTAssertEqual(Set(c[0].map { $0.name! }), [Array("same".utf8)])
    }

    func testWrappedPassphraseKeysAndKeyFiles() throws {
        try writeFile(lowerName("w"), [4, 5])
        let wrapped = dir + "-wrapped"
        let login = dir + "-login"
        let pass = dir + "-pass"
        defer { for f in [wrapped, login, pass] { unlink(f) } }
        try Data(ECryptfsEncoder.wrappedPassphrase(Self.passphrase, login: SecureBytes(copying: Array("login".utf8)), salt: [9, 8, 7, 6, 5, 4, 3, 2]))
            .write(to: URL(fileURLWithPath: wrapped))
        try Data("login\n".utf8).write(to: URL(fileURLWithPath: login))
        try Data("passphrase_passwd=correct horse battery\n".utf8).write(to: URL(fileURLWithPath: pass))
        for k in [try ECryptfsKeys.fromWrappedPassphrase(wrapped, loginPassphraseFile: login),
                  try ECryptfsKeys.fromPassphraseFile(pass)] {
            let lower = try ECryptfsLowerDirectory(path: dir, keys: k)
            let e = try lower.entries(of: .root)[0]
            XCTAssertEqual(e.name, Array("w".utf8))
            XCTAssertEqual(try lower.openFile(e.path).readAll(), [4, 5])
        }
        try Data("other\n".utf8).write(to: URL(fileURLWithPath: login))
        XCTAssertThrowsError(try ECryptfsKeys.fromWrappedPassphrase(wrapped, loginPassphraseFile: login)) {
            XCTAssertTrue("\($0)".contains("wrong login passphrase"), "\($0)")
            XCTAssertFalse("\($0)".contains("other"))
        }
        XCTAssertThrowsError(try ECryptfsKeys.fromPassphraseFile(dir + "-missing"))
    }

    /// The root is listed through the reader's own root descriptor: every listing must start at
    /// the beginning (a dup of it shares its offset, and the second listing came back empty).
    func testListingTheSameDirectoryTwice() throws {
        try writeFile(lowerName("a"), [1])
        try FileManager.default.createDirectory(atPath: dir + "/" + lowerName("d"), withIntermediateDirectories: false)
        try writeFile(lowerName("d") + "/" + lowerName("b"), [2])
        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys())
        for _ in 0..<3 {
            XCTAssertEqual(Set(try lower.entries(of: .root).compactMap { $0.name }), [Array("a".utf8), Array("d".utf8)])
            XCTAssertEqual(try lower.entries(of: ECryptfsPath(lowerComponents: [Array(lowerName("d").utf8)])).compactMap { $0.name },
                           [Array("b".utf8)])
        }
    }

    func testConcurrentReads() throws {
        let plain = pattern(300_000, seed: 8)
        try writeFile(lowerName("c"), plain, keyBytes: 32)
        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys())
        let f = try lower.openFile(try lower.entries(of: .root)[0].path)
        let bad = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            var buf = [UInt8](repeating: 0, count: 7000)
            let off = i * 17_000
            let n = (try? buf.withUnsafeMutableBytes { try f.read(into: $0, at: Int64(off)) }) ?? -1
            if n != 7000 || buf != Array(plain[off..<(off + 7000)]) { bad.add() }
        }
        XCTAssertEqual(bad.value, 0)
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

extension ECryptfsReaderTests {
    /// Listing a directory twice (and the root after a file in it was opened) gives the same entries:
    /// each listing has its own directory offset.
    func testRepeatedListingsSeeEveryEntry() throws {
        try writeFile(lowerName("r1"), [1])
        try writeFile(lowerName("r2"), [2])
        let lower = try ECryptfsLowerDirectory(path: dir, keys: keys())
        let first = try lower.entries(of: .root)
        _ = try lower.openFile(first[0].path)
        XCTAssertEqual(try lower.entries(of: .root).count, 2)
        XCTAssertEqual(try lower.entries(of: .root).count, 2)
        XCTAssertEqual(first.count, 2)
    }
}
