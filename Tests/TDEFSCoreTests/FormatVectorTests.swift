import XCTest
@testable import TDEFSCore

/// Fixed vectors for format v1 (docs/format.md). If one of these fails, existing volumes would no
/// longer be readable: change the format version instead of the vector.
final class FormatVectorTests: XCTestCase {
    let master = SecureBytes(copying: (0..<32).map { UInt8($0) })
    let volumeID = (0..<16).map { UInt8(0xA0 + $0) }
    let dirIV = (0..<16).map { UInt8(0x10 + $0) }
    let fileKey = (0..<32).map { UInt8(0x40 + $0) }
    let fileID = (0..<16).map { UInt8(0x60 + $0) }

    struct Vectors {
        let headerWrap, names, symlink, nameHello, header, extent3, symlinkTarget: String
    }

    let vectors: [AESKeySize: Vectors] = [
        .aes256: Vectors(
            headerWrap: "b1080fcc381dc5e868d0c965cc30ce9eb84a32a831c3f683e9c8c1c812c52827",
            names: "6ea054ad2d5ea1250ccc523e669435dd0759374f5f9365b9b30c2eb9798881505d0ef55dc7c6f8197b678d7a236ad0820f4696b4f58308c66209d53d7e742c3c",
            symlink: "d6801b800c943922d3109b20608d0d3a57e0efec7c708b894acceb3f04c5e3d1",
            nameHello: "7H-3TpT9DbABEo8FW9JBFGG8xk3wSSAKI8tOJvTl7UFDMxVyBXl6QMVq0SHcztSA",
            header: "544445460001010000000007606162636465666768696a6b6c6d6e6f00000000398eab90c094d26d27ea318abb35798d87588a224346cfb541df2f3636832a568bd49b539f73db30f470a599ed8b96da4ccdeac3584d966d817061972fd34451",
            extent3: "2861dc302a89b401db9b20ce6608b71258d0e01dbbb8a577254c185954822203670fbd3fb8be85cf9f1d0c6af0a495bae95511",
            symlinkTarget: "AAAAB1TBQ-cFMQIdWwMf_30YonuMz2wdFUwX0NEbotGTB8hSuDlgbsUwhYbEvuI7"),
        .aes192: Vectors(
            headerWrap: "b1080fcc381dc5e868d0c965cc30ce9eb84a32a831c3f683",
            names: "6ea054ad2d5ea1250ccc523e669435dd0759374f5f9365b9b30c2eb9798881505d0ef55dc7c6f8197b678d7a236ad082",
            symlink: "d6801b800c943922d3109b20608d0d3a57e0efec7c708b89",
            nameHello: "nq-bs2E3dNahNrvf4rS8Cydkx_RxH2xfPEbOX3Fa88kcyDOSSfuPCBqSh5TsXd5k",
            header: "544445460001020000000007606162636465666768696a6b6c6d6e6f00000000a9613993b15382b084d9e0663c362e2de024cc1656d4f0e322711e38dfca8f72917348b8a22a685561e7a67e03e5d0c8c69ebd86870d6734fe9864e781f5eaf2",
            extent3: "339c8188286713f2a56417df53a56af1a784fe76ed0061cb317237d7c7510398586d88782a86cbf29868c47363fe4cda040faf",
            symlinkTarget: "AAAAB380rEJDa9WQr7Clcp3QwBzChaGUl00H1kmiIm2g-oCtL_kEyS2xszeouYRG"),
    ]

    func bytes(_ s: SecureBytes) -> [UInt8] { s.withUnsafeBytes { Array($0) } }

    func testDerivedEpochKeys() {
        for (size, v) in vectors {
            let k = EpochKeys(epoch: 7, size: size, masterKey: master, volumeID: volumeID)
            XCTAssertEqual(Hex.string(bytes(k.headerWrap)), v.headerWrap, "\(size)")
            XCTAssertEqual(Hex.string(bytes(k.names)), v.names, "\(size)")
            XCTAssertEqual(Hex.string(bytes(k.symlink)), v.symlink, "\(size)")
        }
    }

    func testNameEncryptionIsPinned() {
        for (size, v) in vectors {
            let k = EpochKeys(epoch: 7, size: size, masterKey: master, volumeID: volumeID)
            XCTAssertEqual(NameCodec.encrypt(Array("hello".utf8), iv: dirIV, key: k.nameCipher), v.nameHello)
            XCTAssertEqual(NameCodec.decrypt(v.nameHello, iv: dirIV, key: k.nameCipher), Array("hello".utf8))
            // Another directory's IV does not decrypt it.
            XCTAssertNil(NameCodec.decrypt(v.nameHello, iv: [UInt8](repeating: 0, count: 16), key: k.nameCipher))
        }
    }

    func testHeaderUnwrapsToTheFileKey() throws {
        for (size, v) in vectors {
            let k = EpochKeys(epoch: 7, size: size, masterKey: master, volumeID: volumeID)
            let header = try XCTUnwrap(FileHeader(parsing: Hex.bytes(v.header)))
            XCTAssertEqual(header.size, size)
            XCTAssertEqual(header.epoch, 7)
            XCTAssertEqual(header.fileID, fileID)
            XCTAssertEqual(header.bytes, Hex.bytes(v.header))
            let key = try XCTUnwrap(header.unwrap(keys: k))
            XCTAssertEqual(bytes(key), fileKey)
            var damaged = Hex.bytes(v.header)
            damaged[12] ^= 1  // the file ID is authenticated
            XCTAssertNil(FileHeader(parsing: damaged)?.unwrap(keys: k))
        }
    }

    /// The header's version is inside the wrap's AAD: the v1 vector relabelled as version 2 parses
    /// (v2 is known) but does not unwrap, so the hole rule cannot be switched by editing it.
    func testHeaderVersionIsAuthenticated() throws {
        for (size, v) in vectors {
            let k = EpochKeys(epoch: 7, size: size, masterKey: master, volumeID: volumeID)
            var b = Hex.bytes(v.header)
            b[5] = 2
            let h = try XCTUnwrap(FileHeader(parsing: b))
            XCTAssertEqual(h.version, 2)
            XCTAssertEqual(h.bytes, b)
            XCTAssertNil(h.unwrap(keys: k))
            b[5] = 3
            XCTAssertNil(FileHeader(parsing: b), "version 3 is unknown")
        }
    }

    func testExtentDecryptsOnlyAtItsPosition() {
        for (size, v) in vectors {
            let gcm = AESGCM()
            gcm.setKey(SecureBytes(copying: fileKey), size: size)
            XCTAssertEqual(gcm.openBox(Hex.bytes(v.extent3), aad: fileID + [0, 0, 0, 0, 0, 0, 0, 3]),
                           Array("tdefs extent vector".utf8))
            XCTAssertNil(gcm.openBox(Hex.bytes(v.extent3), aad: fileID + [0, 0, 0, 0, 0, 0, 0, 2]))
        }
    }

    func testSymlinkTargetDecrypts() {
        for (size, v) in vectors {
            let k = EpochKeys(epoch: 7, size: size, masterKey: master, volumeID: volumeID)
            let ring = Keyring(volumeID: volumeID, currentEpoch: 7, epochs: [k])
            XCTAssertEqual(SymlinkCodec.decrypt(Array(v.symlinkTarget.utf8), keyring: ring), Array("/target/path".utf8))
        }
    }

    func testGeometry() {
        XCTAssertEqual(ExtentGeometry.backingSize(plainSize: 0), 96)
        XCTAssertEqual(ExtentGeometry.backingSize(plainSize: 1), 96 + 33)
        XCTAssertEqual(ExtentGeometry.backingSize(plainSize: 4096), 96 + 4128)
        XCTAssertEqual(ExtentGeometry.backingSize(plainSize: 4097), 96 + 4128 + 33)
        for p in [Int64(0), 1, 100, 4095, 4096, 4097, 8192, 1 << 30] {
            XCTAssertEqual(ExtentGeometry.plainSize(backingSize: ExtentGeometry.backingSize(plainSize: p)), p)
        }
        XCTAssertTrue(ExtentGeometry.hasDamagedTail(backingSize: 96 + 4128 + 20))
        XCTAssertFalse(ExtentGeometry.hasDamagedTail(backingSize: 96 + 4128 + 33))
    }

    func testLongNamesAndReservedNames() {
        XCTAssertEqual(NameCodec.classify("tdefs.conf"), .reserved)
        XCTAssertEqual(NameCodec.classify("tdefs.diriv"), .reserved)
        XCTAssertEqual(NameCodec.classify("abc-_"), .encrypted)
        let long = NameCodec.backingName(forEncrypted: String(repeating: "A", count: 300))
        XCTAssertTrue(long.isLong)
        XCTAssertEqual(long.name.utf8.count, 54)
        XCTAssertEqual(NameCodec.classify(long.name), .long)
        XCTAssertEqual(NameCodec.classify(long.name + ".name"), .longSideFile)
        XCTAssertFalse(NameCodec.backingName(forEncrypted: String(repeating: "A", count: 255)).isLong)
    }

    func testMalformedHeadersAreRejected() {
        var good = Hex.bytes(vectors[.aes256]!.header)
        XCTAssertNotNil(FileHeader(parsing: good))
        for i in [0, 4, 5, 6, 7, 28] {
            var b = good
            b[i] ^= 0xFF
            XCTAssertNil(FileHeader(parsing: b), "byte \(i)")
        }
        good.removeLast()
        XCTAssertNil(FileHeader(parsing: good))
        XCTAssertNil(FileHeader(parsing: []))
    }

    /// Long symlink targets: the side file's name is `tdefs.target.` + base64url(SHA-256(stored
    /// target)), computed here independently with `openssl dgst -sha256 | basenc --base64url`.
    func testSymlinkSideFileNames() {
        let stored = Array(vectors[.aes256]!.symlinkTarget.utf8)
        let name = SymlinkCodec.sideFileName(forStored: stored)
        XCTAssertEqual(name, "tdefs.target.5BFBbCfcGUMnGOJ20YPiQ4Zc_KqjxoSLkM2CrWE05_M")
        XCTAssertEqual(name.utf8.count, SymlinkCodec.sideFileNameBytes)
        XCTAssertTrue(SymlinkCodec.isSideFileName(name.utf8))
        XCTAssertTrue(SymlinkCodec.sideFileMatches(name: name, content: stored))
        XCTAssertFalse(SymlinkCodec.sideFileMatches(name: name, content: stored.dropLast() + [0x41]))
        XCTAssertEqual(NameCodec.classify(name), .symlinkTargetFile)
        // Not side-file names: stored targets (base64url, no '.'), other lengths, a '.' in the hash.
        XCTAssertFalse(SymlinkCodec.isSideFileName(stored))
        XCTAssertFalse(SymlinkCodec.isSideFileName(name.utf8.dropLast()))
        XCTAssertFalse(SymlinkCodec.isSideFileName(Array((name + "A").utf8)))
        XCTAssertFalse(SymlinkCodec.isSideFileName(Array(("tdefs.target." + String(repeating: ".", count: 43)).utf8)))
        XCTAssertEqual(NameCodec.classify("tdefs.target.short"), .reserved)
        XCTAssertEqual(SymlinkCodec.epoch(ofStored: stored), 7)
        XCTAssertNil(SymlinkCodec.epoch(ofStored: Array("AAAA".utf8)))
    }

    /// Every target length up to 4095 bytes encrypts; the stored form fits the backing symlink up
    /// to 3035 bytes, and needs a side file from 3036 on; 4096 is ENAMETOOLONG.
    func testSymlinkTargetLengthLimits() throws {
        let k = EpochKeys(epoch: 7, size: .aes256, masterKey: master, volumeID: volumeID)
        let ring = Keyring(volumeID: volumeID, currentEpoch: 7, epochs: [k])
        for length in [1, 3035, 3036, 4094, 4095] {
            let target = [UInt8](repeating: 0x74, count: length)
            let stored = try SymlinkCodec.encrypt(target, keys: k)
            XCTAssertEqual(SymlinkCodec.fitsInline(stored), length <= SymlinkCodec.maxInlineTargetBytes, "\(length)")
            XCTAssertEqual(SymlinkCodec.decrypt(Array(stored.utf8), keyring: ring), target)
        }
        XCTAssertThrowsError(try SymlinkCodec.encrypt([UInt8](repeating: 0x74, count: 4096), keys: k)) {
            XCTAssertEqual(($0 as? Errno)?.code, ENAMETOOLONG)
        }
    }
}
