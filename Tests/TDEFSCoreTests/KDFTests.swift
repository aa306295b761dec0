import XCTest
import TDEFSCore

/// Published vectors for the key-derivation functions (RFC 7914 scrypt, RFC 5869 HKDF, FIPS 180 SHA-256).
final class KDFTests: XCTestCase {
    func bytes(_ s: SecureBytes) -> [UInt8] { s.withUnsafeBytes { Array($0) } }

    func testSHA256() {
        XCTAssertEqual(Hex.string(KDF.sha256(Array("abc".utf8))),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Hex.string(KDF.sha256([UInt8]())),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testHKDFWithASCIIInfo() {
        // RFC 5869 test case 3 has empty salt and info: OKM for IKM 0x0b*22, L=42.
        let okm = KDF.hkdfSHA256(key: SecureBytes(copying: [UInt8](repeating: 0x0b, count: 22)), salt: [], info: "", length: 42)
        XCTAssertEqual(Hex.string(bytes(okm)),
                       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
        // Labels separate keys.
        let k = SecureBytes(copying: [UInt8](repeating: 7, count: 32))
        let a = bytes(KDF.hkdfSHA256(key: k, salt: [1], info: "tdefs v1 names", length: 64))
        let b = bytes(KDF.hkdfSHA256(key: k, salt: [1], info: "tdefs v1 symlink", length: 64))
        let c = bytes(KDF.hkdfSHA256(key: k, salt: [2], info: "tdefs v1 names", length: 64))
        XCTAssertNotEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a, bytes(KDF.hkdfSHA256(key: k, salt: [1], info: "tdefs v1 names", length: 64)))
    }

    func testScryptRFC7914() {
        let p1 = KDF.scrypt(passphrase: SecureBytes(copying: [UInt8]()), salt: [],
                            parameters: .init(n: 16, r: 1, p: 1), length: 64)
        XCTAssertEqual(p1.map { Hex.string(bytes($0)) },
                       "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906")
        let p2 = KDF.scrypt(passphrase: SecureBytes(copying: Array("password".utf8)), salt: Array("NaCl".utf8),
                            parameters: .init(n: 1024, r: 8, p: 16), length: 64)
        XCTAssertEqual(p2.map { Hex.string(bytes($0)) },
                       "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
    }

    func testScryptRejectsBadParameters() {
        // N must be a power of two greater than 1.
        XCTAssertNil(KDF.scrypt(passphrase: SecureBytes(copying: Array("x".utf8)), salt: [1],
                                parameters: .init(n: 1000, r: 8, p: 1), length: 32))
    }

    func testSecureBytesNeverPrintsItsContent() {
        let s = SecureBytes(copying: Array("TOPSECRETKEY".utf8))
        XCTAssertFalse(String(describing: s).contains("TOPSECRET"))
        XCTAssertFalse("\(s)".contains("TOPSECRET"))
        XCTAssertTrue(s.constantTimeEquals(SecureBytes(copying: Array("TOPSECRETKEY".utf8))))
        XCTAssertFalse(s.constantTimeEquals(SecureBytes(copying: Array("TOPSECRETKEZ".utf8))))
    }
}
