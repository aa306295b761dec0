import XCTest
import TDEFSCore

/// The eCryptfs codec: known-answer vectors and malformed input for every parser.
final class ECryptfsCodecTests: XCTestCase {
    static let key = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: Array("test passphrase".utf8)),
                                           salt: ECryptfsPassphraseKey.defaultSalt)

    /// Wrapping-key signatures as John the Ripper's ecryptfs format lists them (the first 16
    /// characters of ecryptfs-utils' v1 wrapped-passphrase files), computed independently of
    /// this reader: default salt, and a custom salt.
    func testPassphraseSignatureVectors() {
        let cases: [(String, [UInt8], String)] = [
            ("openwall", ECryptfsPassphraseKey.defaultSalt, "92dc3db8feaf1676"),
            ("failpassword", ECryptfsPassphraseKey.defaultSalt, "ccb515ee115be591"),
            ("verylongbutstillfailpassword", ECryptfsPassphraseKey.defaultSalt, "8acb10b9e061fcc7"),
            ("fake", [0, 0, 0, 0, 0, 0, 0, 0], "884ed410cd143bca"),
            ("fake", Hex.bytes("544c39674737716a"), "a8307a01b2d1b008"),
        ]
        for (pass, salt, sig) in cases {
            let k = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: Array(pass.utf8)), salt: salt)
            XCTAssertEqual(k.signature, sig, pass)
            XCTAssertEqual(k.fekek.count, 64)
        }
    }

    func testFNEKSaltIsTheASCIIPrefixOfTheHexString() {
        XCTAssertEqual(ECryptfsPassphraseKey.fnekSalt, Array("99887766".utf8))
    }

    func testFilenameEncodingAlphabetAndRoundTrip() {
        XCTAssertEqual(ECryptfsFilenameEncoding.encode([0, 0, 0]), Array("----".utf8))
        XCTAssertEqual(ECryptfsFilenameEncoding.encode([0xff, 0xff, 0xff]), Array("zzzz".utf8))
        XCTAssertEqual(ECryptfsFilenameEncoding.encode([0x04, 0x10, 0x41]), Array("....".utf8))
        for n in 0..<40 {
            let b = (0..<n).map { UInt8(($0 * 37 + 11) & 0xff) }
            let d = ECryptfsFilenameEncoding.decode(ECryptfsFilenameEncoding.encode(b))!
            XCTAssertEqual(Array(d.prefix(n)), b)
            XCTAssertTrue(d.count - n < 3 && d.dropFirst(n).allSatisfy { $0 == 0 })
        }
        XCTAssertNil(ECryptfsFilenameEncoding.decode(Array("ab+c".utf8)))
        XCTAssertNil(ECryptfsFilenameEncoding.decode(Array("ab/c".utf8)))
        XCTAssertTrue(ECryptfsFilenameEncoding.isEncrypted(Array("ECRYPTFS_FNEK_ENCRYPTED.x".utf8)))
        XCTAssertFalse(ECryptfsFilenameEncoding.isEncrypted(Array("ECRYPTFS_FNEK_ENCRYPTED.".utf8)))
        XCTAssertFalse(ECryptfsFilenameEncoding.isEncrypted(Array("plain".utf8)))
    }

    func header(size: UInt64 = 5000, keyBytes: Int = 16, inXattr: Bool = false) -> [UInt8] {
        ECryptfsEncoder.header(size: size, fek: [UInt8](repeating: 0x5a, count: keyBytes), key: Self.key, inXattr: inXattr)
    }

    func testHeaderFieldsAndPackets() throws {
        for kb in [16, 24, 32] {
            let h = header(keyBytes: kb)
            XCTAssertEqual(h.count, 8192)
            let fh = try ECryptfsFileHeader.parse(h, path: "f", validateHeaderSize: true)
            XCTAssertEqual(fh.size, 5000)
            XCTAssertEqual(fh.version, 3)
            XCTAssertEqual(fh.flags & ECryptfsFileHeader.flagEncrypted, ECryptfsFileHeader.flagEncrypted)
            XCTAssertEqual(fh.headerExtentSize, 4096)
            XCTAssertEqual(fh.headerExtentCount, 2)
            XCTAssertEqual(fh.metadataSize, 8192)
            let ps = try ECryptfsPacketSet.parse(h[26...], path: "f")
            XCTAssertEqual(ps.passphraseKeys.count, 1)
            XCTAssertEqual(ps.passphraseKeys[0].signature, Self.key.signature)
            XCTAssertEqual(ps.passphraseKeys[0].tag3.keyBytes, kb)
            XCTAssertEqual(ps.passphraseKeys[0].tag3.encryptedKey.count, kb == 16 ? 16 : 32)
            XCTAssertEqual(ps.passphraseKeys[0].tag3.hashIterations, 65536)
            XCTAssertEqual(ps.passphraseKeys[0].tag3.salt, ECryptfsPassphraseKey.defaultSalt)
        }
    }

    func assertMalformed(_ body: () throws -> Void, _ line: UInt = #line) {
        do { try body(); XCTFail("accepted", line: line) } catch let e as ECryptfsError {
            XCTAssertFalse(e.description.isEmpty, line: line)
        } catch { XCTFail("\(error)", line: line) }
    }

    func testHeaderMalformed() {
        let h = header()
        for n in [0, 1, 8, 16, 25] { assertMalformed { _ = try ECryptfsFileHeader.parse(Array(h.prefix(n)), path: "f", validateHeaderSize: true) } }
        var bad = h; bad[9] ^= 1  // marker
        assertMalformed { _ = try ECryptfsFileHeader.parse(bad, path: "f", validateHeaderSize: true) }
        bad = h; bad[16] = 4  // version
        assertMalformed { _ = try ECryptfsFileHeader.parse(bad, path: "f", validateHeaderSize: true) }
        bad = h; bad[16] = 0
        assertMalformed { _ = try ECryptfsFileHeader.parse(bad, path: "f", validateHeaderSize: true) }
        bad = h; bad[25] = 1  // 4096-byte header: below the minimum
        assertMalformed { _ = try ECryptfsFileHeader.parse(bad, path: "f", validateHeaderSize: true) }
        XCTAssertNoThrow(try ECryptfsFileHeader.parse(bad, path: "f", validateHeaderSize: false))
        bad = h; bad[19] = 0  // not encrypted
        assertMalformed { _ = try ECryptfsFileHeader.parse(bad, path: "f", validateHeaderSize: true) }
        bad = h; bad[0] = 0x80  // size beyond Int64
        assertMalformed { _ = try ECryptfsFileHeader.parse(bad, path: "f", validateHeaderSize: true) }
        XCTAssertEqual((try? ECryptfsFileHeader.parse(bad, path: "/lower/x", validateHeaderSize: true)) == nil, true)
        do { _ = try ECryptfsFileHeader.parse(Array(h.prefix(3)), path: "/lower/x", validateHeaderSize: true) } catch {
            XCTAssertEqual(error.path, "/lower/x")
            XCTAssertTrue(error.description.hasPrefix("/lower/x: "))
        }
    }

    func testTag3AndTag11Malformed() {
        let h = header()
        let ps = Array(h[26..<(26 + 2 + 29 + 2 + 22)])  // tag 3 (body 29) + tag 11 (body 22)
        XCTAssertNoThrow(try ECryptfsPacketSet.parse(ps[...], path: "f"))
        for n in 0..<ps.count { assertMalformed { _ = try ECryptfsPacketSet.parse(ps[0..<n], path: "f") } }
        func mutate(_ i: Int, _ v: UInt8) -> ArraySlice<UInt8> { var m = ps; m[i] = v; return m[...] }
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(0, 0x77), path: "f") }   // no packet
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(1, 0xff), path: "f") }   // 5-octet length
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(1, 0x05), path: "f") }   // body too short
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(1, 0xd0), path: "f") }   // length past the end
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(2, 0x03), path: "f") }   // version
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(3, 0x03), path: "f") }   // cipher (CAST5)
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(4, 0x01), path: "f") }   // S2K id
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(5, 0x02), path: "f") }   // hash id
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(1, 30), path: "f") }     // key size 17
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(31, 0x8C), path: "f") }  // tag 3 not followed by tag 11
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(33, 0x63), path: "f") }  // tag 11 format
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(34, 0x07), path: "f") }
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(32, 13), path: "f") }    // tag 11 body too short
        assertMalformed { _ = try ECryptfsPacketSet.parse(mutate(32, 21), path: "f") }    // 7-byte signature
        assertMalformed { _ = try ECryptfsTag3Packet.parse(ps[31...], path: "f") }
        assertMalformed { _ = try ECryptfsTag11Packet.parse(ps[0...], path: "f") }
        // A tag 1 (public key) packet only: unsupported, not a crash.
        assertMalformed { _ = try ECryptfsPacketSet.parse([0x01, 0x02, 0x00, 0x00][...], path: "f") }
        assertMalformed { _ = try ECryptfsPacketSet.parse([0x01, 0x09, 0x00][...], path: "f") }
    }

    func testTag70ParseAndMalformed() throws {
        let name = Array("hello.db".utf8)
        for kb in [16, 24, 32] {
            let lower = ECryptfsEncoder.encryptName(name, fnek: Self.key, keyBytes: kb)
            let packet = ECryptfsFilenameEncoding.decode(lower.dropFirst(24))!
            let t = try ECryptfsTag70Packet.parse(packet, path: "n")
            XCTAssertEqual(t.signature, Self.key.signature)
            XCTAssertEqual(t.encryptedName.count % 16, 0)
            for n in 0..<min(packet.count, 40) { assertMalformed { _ = try ECryptfsTag70Packet.parse(Array(packet.prefix(n)), path: "n") } }
            var bad = packet; bad[0] = 0x47
            assertMalformed { _ = try ECryptfsTag70Packet.parse(bad, path: "n") }
            bad = packet; bad[1] = 0xfe
            assertMalformed { _ = try ECryptfsTag70Packet.parse(bad, path: "n") }
            bad = packet; bad[1] = 9
            assertMalformed { _ = try ECryptfsTag70Packet.parse(bad, path: "n") }
            bad = packet; bad[1] -= 1  // not block-aligned
            assertMalformed { _ = try ECryptfsTag70Packet.parse(bad, path: "n") }
            bad = packet; bad[10] = 0x04
            assertMalformed { _ = try ECryptfsTag70Packet.parse(bad, path: "n") }
        }
    }

    func testWrappedPassphraseRoundTripAndMalformed() throws {
        let login = SecureBytes(copying: Array("login pw".utf8))
        let salt: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let file = ECryptfsEncoder.wrappedPassphrase(Array("mount passphrase 0123456789".utf8), login: login, salt: salt)
        let p = try ECryptfsWrappedPassphrase.parse(file, path: "w")
        XCTAssertEqual(p.version, 2)
        XCTAssertEqual(p.salt, salt)
        let m = try ECryptfsWrappedPassphrase.unwrap(p, loginPassphrase: login, path: "w")
        XCTAssertEqual(m.withUnsafeBytes { Array($0) }, Array("mount passphrase 0123456789".utf8))
        XCTAssertThrowsError(try ECryptfsWrappedPassphrase.unwrap(p, loginPassphrase: SecureBytes(copying: Array("wrong".utf8)), path: "w")) {
            XCTAssertTrue("\($0)".contains("wrong login passphrase"))
        }
        // v1: signature then the encrypted passphrase, default salt.
        let v1 = Array(ECryptfsEncoder.wrappedPassphrase(Array("x".utf8), login: login, salt: ECryptfsPassphraseKey.defaultSalt).dropFirst(10))
        let p1 = try ECryptfsWrappedPassphrase.parse(v1, path: "w")
        XCTAssertEqual(p1.version, 1)
        XCTAssertEqual(try ECryptfsWrappedPassphrase.unwrap(p1, loginPassphrase: login, path: "w").withUnsafeBytes { Array($0) }, [0x78])
        for n in [0, 1, 2, 9, 25, 26, 41] { assertMalformed { _ = try ECryptfsWrappedPassphrase.parse(Array(file.prefix(n)), path: "w") } }
        var bad = file; bad[1] = 3
        assertMalformed { _ = try ECryptfsWrappedPassphrase.parse(bad, path: "w") }
        bad = file; bad[12] = UInt8(ascii: "G")
        assertMalformed { _ = try ECryptfsWrappedPassphrase.parse(bad, path: "w") }
        assertMalformed { _ = try ECryptfsWrappedPassphrase.parse(file + [1], path: "w") }
        assertMalformed { _ = try ECryptfsWrappedPassphrase.parse(file + [UInt8](repeating: 0, count: 64), path: "w") }
    }

    func testExtentIVsFollowTheKernelDerivation() {
        let fek = [UInt8](repeating: 7, count: 16)
        let c = ECryptfsExtentCipher(fek: SecureBytes(copying: fek))
        XCTAssertEqual(c.rootIV.count, 16)
        XCTAssertNotEqual(c.iv(extent: 0), c.iv(extent: 1))
        XCTAssertNotEqual(c.iv(extent: 1), c.iv(extent: 10))
        XCTAssertEqual(c.iv(extent: 12), c.iv(extent: 12))
    }

    // MARK: Vectors computed by Tests/Support/ecryptfs_vectors.py (Python hashlib + cryptography,
    // written from the kernel's keystore.c / crypto.c and ecryptfs-utils' sources, not from this
    // reader).

    /// The mount signature (default salt) and the FNEK signature of `ecryptfs-add-passphrase
    /// --fnek` (salt: the first 8 ASCII characters of ECRYPTFS_DEFAULT_SALT_FNEK_HEX).
    func testMountAndFNEKSignatureVectors() {
        let keys = ECryptfsKeys(mountPassphrase: SecureBytes(copying: Array("test passphrase".utf8)))
        XCTAssertEqual(keys.mountSignature, "5eca2fbf74604115")
        XCTAssertEqual(keys.fnekSignature, "4ca8e142bb262bfe")
        XCTAssertEqual(Self.key.signature, "5eca2fbf74604115")
    }

    static let nameVectors: [(Int, String)] = [
        (16, "ECRYPTFS_FNEK_ENCRYPTED.FWZSmWyzR4..3ET7q838519GMki8.Hta41EeyOsl8znIJKVr5wCK8voaj---"),
        (24, "ECRYPTFS_FNEK_ENCRYPTED.FWZSmWyzR4..3EVa63YGxzjIjGcSMT50QcwHkvcFRzdPBzPAl.YKFejDz---"),
        (32, "ECRYPTFS_FNEK_ENCRYPTED.FWZSmWyzR4..3EYuKUi0t0AdFZf1Xo2wXladwbegCgjl8s1c9cesoE8qXE--"),
    ]

    /// Lower names byte for byte as the kernel writes them (the mount key as FNEK, the
    /// mount.ecryptfs default), and their decryption by the reader.
    func testTag70NameVectors() throws {
        let keys = ECryptfsKeys(mountPassphrase: SecureBytes(copying: Array("test passphrase".utf8)))
        let lower = try ECryptfsLowerDirectory(path: NSTemporaryDirectory(), keys: keys)
        for (kb, expected) in Self.nameVectors {
            XCTAssertEqual(String(decoding: ECryptfsEncoder.encryptName(Array("hello.db".utf8), fnek: Self.key, keyBytes: kb), as: UTF8.self),
                           expected, "AES key \(kb)")
            XCTAssertEqual(try lower.decodeName(Array(expected.utf8), path: "n"), Array("hello.db".utf8))
        }
        // A longer name under the FNEK of `ecryptfs-add-passphrase --fnek` (two prefix digests).
        let long = "ECRYPTFS_FNEK_ENCRYPTED.FYZAeC30imMfzURxvzOrEO.cnf7nwU2202FeIq55iDhdl3LN6GwLpVu5IOH7OJZjB6hEjKcuzaZoRDwl7xqeBBQYfGZxG-7KSZjH"
        let fnek = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: Array("test passphrase".utf8)), salt: ECryptfsPassphraseKey.fnekSalt)
        XCTAssertEqual(String(decoding: ECryptfsEncoder.encryptName(Array("a-rather-longer-file-name.sqlite3".utf8), fnek: fnek, keyBytes: 16), as: UTF8.self), long)
        XCTAssertEqual(try lower.decodeName(Array(long.utf8), path: "n"), Array("a-rather-longer-file-name.sqlite3".utf8))
    }

    /// Root IV and per-extent IVs (crypto.c ecryptfs_compute_root_iv / ecryptfs_derive_iv) and
    /// the CBC ciphertext of an extent.
    func testExtentIVAndCiphertextVectors() {
        let fek = [UInt8](repeating: 7, count: 16)
        let c = ECryptfsExtentCipher(fek: SecureBytes(copying: fek))
        XCTAssertEqual(Hex.string(c.rootIV), "a4aa9a02aa65f31d17dce9f944a57ab2")
        XCTAssertEqual(Hex.string(c.iv(extent: 0)), "3e8d03b4852fe649e4606ac0320c4f54")
        XCTAssertEqual(Hex.string(c.iv(extent: 1)), "7e8e19ff4cca34f828e68d3eeb1e54df")
        XCTAssertEqual(Hex.string(c.iv(extent: 12)), "fee3087b2d00f7cd6c8d2e477d39e5a1")
        XCTAssertEqual(Hex.string(c.iv(extent: 123456789012345678)), "b824d757774065f88f6af5321a0a92c1")
        let page = (0..<4096).map { UInt8($0 & 0xff) }
        let enc = ECryptfsEncoder.extents(page + page, fek: fek)
        XCTAssertEqual(Hex.string(Array(enc[4096..<4128])), "89098c18ebf79dfde072e7282b050583879e6e1910cc33c48a0ecc43e35a7f09")
        var out = [UInt8](repeating: 0, count: 4096)
        let ok = enc[4096..<8192].withUnsafeBytes { i in out.withUnsafeMutableBytes { c.decrypt(extent: 1, input: i, output: $0) } }
        XCTAssertTrue(ok)
        XCTAssertEqual(out, page)
    }

    /// The header's first 82 bytes: size, marker (the encoder's fixed m1), flags, header extents,
    /// tag 3 (AES-128, default salt, 0x60), tag 11 with the signature, the 0x00 after the set.
    func testHeaderVector() throws {
        let h = header()
        XCTAssertEqual(Hex.string(Array(h.prefix(82))),
                       "0000000000001388123456782eb5e18d030000020000100000028c1d04070301001122334455667760b068cf93be71d0ff4ae2aec86549a5b0ed1662085f434f4e534f4c45000000005eca2fbf7460411500")
        // AES-192: the FEK padded with 8 zero octets, wrapped under the first 24 FEKEK octets.
        let ps = try ECryptfsPacketSet.parse(header(keyBytes: 24)[26...], path: "f")
        XCTAssertEqual(Hex.string(ps.passphraseKeys[0].tag3.encryptedKey), "093e9f540e45551bfe3b17932125f1fcd3996d6a7975973b301bc924e51d68b1")
    }

    /// A version 2 wrapped-passphrase file (ecryptfs-utils write_v2_wrapped_passphrase_file).
    func testWrappedPassphraseVector() throws {
        let login = SecureBytes(copying: Array("login pw".utf8))
        let file = Hex.bytes("3a02010203040506070863343037303330653563623563336561d60d599501a80b77740ba83cf15903a6517f3e5e2f0b73e2a503c12903d584ab")
        XCTAssertEqual(ECryptfsEncoder.wrappedPassphrase(Array("mount passphrase 0123456789".utf8), login: login, salt: [1, 2, 3, 4, 5, 6, 7, 8]), file)
        let m = try ECryptfsWrappedPassphrase.unwrap(try ECryptfsWrappedPassphrase.parse(file, path: "w"), loginPassphrase: login, path: "w")
        XCTAssertEqual(m.withUnsafeBytes { Array($0) }, Array("mount passphrase 0123456789".utf8))
    }
}
