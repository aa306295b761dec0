import XCTest
import TDEFSCore

/// Known answers from the GCM specification (McGrew & Viega, "The Galois/Counter Mode of Operation",
/// appendix B; also NIST's GCM test vectors), through the project's AESGCM wrapper.
final class AESGCMVectorTests: XCTestCase {
    struct Vector {
        let name: String
        let size: AESKeySize
        let key: String, iv: String, aad: String, plaintext: String, ciphertext: String, tag: String
    }

    static let p60 = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    static let p64 = p60 + "1aafd255"
    static let aad20 = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
    static let iv60 = "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b"
    static let k192 = "feffe9928665731c6d6a8f9467308308feffe9928665731c"
    static let k256 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"

    static let vectors: [Vector] = [
        // AES-192: test cases 7 to 12.
        Vector(name: "TC7", size: .aes192, key: String(repeating: "00", count: 24), iv: String(repeating: "00", count: 12),
               aad: "", plaintext: "", ciphertext: "", tag: "cd33b28ac773f74ba00ed1f312572435"),
        Vector(name: "TC8", size: .aes192, key: String(repeating: "00", count: 24), iv: String(repeating: "00", count: 12),
               aad: "", plaintext: String(repeating: "00", count: 16),
               ciphertext: "98e7247c07f0fe411c267e4384b0f600", tag: "2ff58d80033927ab8ef4d4587514f0fb"),
        Vector(name: "TC9", size: .aes192, key: k192, iv: "cafebabefacedbaddecaf888", aad: "", plaintext: p64,
               ciphertext: "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256",
               tag: "9924a7c8587336bfb118024db8674a14"),
        Vector(name: "TC10", size: .aes192, key: k192, iv: "cafebabefacedbaddecaf888", aad: aad20, plaintext: p60,
               ciphertext: "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
               tag: "2519498e80f1478f37ba55bd6d27618c"),
        Vector(name: "TC11 (64-bit IV)", size: .aes192, key: k192, iv: "cafebabefacedbad", aad: aad20, plaintext: p60,
               ciphertext: "0f10f599ae14a154ed24b36e25324db8c566632ef2bbb34f8347280fc4507057fddc29df9a471f75c66541d4d4dad1c9e93a19a58e8b473fa0f062f7",
               tag: "65dcc57fcf623a24094fcca40d3533f8"),
        Vector(name: "TC12 (60-byte IV)", size: .aes192, key: k192, iv: iv60, aad: aad20, plaintext: p60,
               ciphertext: "d27e88681ce3243c4830165a8fdcf9ff1de9a1d8e6b447ef6ef7b79828666e4581e79012af34ddd9e2f037589b292db3e67c036745fa22e7e9b7373b",
               tag: "dcf566ff291c25bbb8568fc3d376a6d9"),
        // AES-256: test cases 13 to 18.
        Vector(name: "TC13", size: .aes256, key: String(repeating: "00", count: 32), iv: String(repeating: "00", count: 12),
               aad: "", plaintext: "", ciphertext: "", tag: "530f8afbc74536b9a963b4f1c4cb738b"),
        Vector(name: "TC14", size: .aes256, key: String(repeating: "00", count: 32), iv: String(repeating: "00", count: 12),
               aad: "", plaintext: String(repeating: "00", count: 16),
               ciphertext: "cea7403d4d606b6e074ec5d3baf39d18", tag: "d0d1c8a799996bf0265b98b5d48ab919"),
        Vector(name: "TC15", size: .aes256, key: k256, iv: "cafebabefacedbaddecaf888", aad: "", plaintext: p64,
               ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
               tag: "b094dac5d93471bdec1a502270e3cc6c"),
        Vector(name: "TC16", size: .aes256, key: k256, iv: "cafebabefacedbaddecaf888", aad: aad20, plaintext: p60,
               ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
               tag: "76fc6ece0f4e1768cddf8853bb2d551b"),
        Vector(name: "TC17 (64-bit IV)", size: .aes256, key: k256, iv: "cafebabefacedbad", aad: aad20, plaintext: p60,
               ciphertext: "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
               tag: "3a337dbf46a792c45e454913fe2ea8f2"),
        Vector(name: "TC18 (60-byte IV)", size: .aes256, key: k256, iv: iv60, aad: aad20, plaintext: p60,
               ciphertext: "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf40fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
               tag: "a44a8266ee1c8eb0c8b5d4cf5ae9f19a"),
    ]

    func seal(_ v: Vector) -> (ct: [UInt8], tag: [UInt8], ok: Bool) {
        let key = Hex.bytes(v.key), iv = Hex.bytes(v.iv), aad = Hex.bytes(v.aad), pt = Hex.bytes(v.plaintext)
        let gcm = AESGCM(nonceLength: iv.count)
        key.withUnsafeBytes { gcm.setKey($0, size: v.size) }
        var ct = [UInt8](repeating: 0, count: max(pt.count, 1))
        var tag = [UInt8](repeating: 0, count: 16)
        let ok = iv.withUnsafeBytes { n in aad.withUnsafeBytes { a in pt.withUnsafeBytes { p in
            ct.withUnsafeMutableBytes { c in tag.withUnsafeMutableBytes { t in
                gcm.seal(nonce: n, aad: a, plaintext: p, ciphertext: c.baseAddress!, tag: t.baseAddress!)
            } }
        } } }
        return (Array(ct.prefix(pt.count)), tag, ok)
    }

    func open(_ v: Vector, ciphertext: [UInt8], tag: [UInt8], aad: [UInt8]? = nil, iv: [UInt8]? = nil) -> [UInt8]? {
        let key = Hex.bytes(v.key), iv = iv ?? Hex.bytes(v.iv), aad = aad ?? Hex.bytes(v.aad)
        let gcm = AESGCM(nonceLength: iv.count)
        key.withUnsafeBytes { gcm.setKey($0, size: v.size) }
        var pt = [UInt8](repeating: 0, count: max(ciphertext.count, 1))
        let ok = iv.withUnsafeBytes { n in aad.withUnsafeBytes { a in ciphertext.withUnsafeBytes { c in
            tag.withUnsafeBytes { t in pt.withUnsafeMutableBytes { p in
                gcm.open(nonce: n, aad: a, ciphertext: c, tag: t, plaintext: p.baseAddress!)
            } }
        } } }
        return ok ? Array(pt.prefix(ciphertext.count)) : nil
    }

    func testPublishedVectorsSeal() {
        for v in Self.vectors {
            let r = seal(v)
            XCTAssertTrue(r.ok, v.name)
            XCTAssertEqual(Hex.string(r.ct), v.ciphertext, "\(v.name) ciphertext")
            XCTAssertEqual(Hex.string(r.tag), v.tag, "\(v.name) tag")
        }
    }

    func testPublishedVectorsOpen() {
        for v in Self.vectors {
            XCTAssertEqual(open(v, ciphertext: Hex.bytes(v.ciphertext), tag: Hex.bytes(v.tag)).map(Hex.string),
                           v.plaintext, v.name)
        }
    }

    func testCoversShortAndLongIVsForBothSizes() {
        for size in AESKeySize.allCases {
            let lengths = Set(Self.vectors.filter { $0.size == size }.map { Hex.bytes($0.iv).count })
            XCTAssertEqual(lengths, [8, 12, 60], "\(size)")
        }
    }

    func testTamperedVectorsFail() {
        for v in Self.vectors {
            let ct = Hex.bytes(v.ciphertext), tag = Hex.bytes(v.tag), aad = Hex.bytes(v.aad), iv = Hex.bytes(v.iv)
            for bit in [0, 7, 64, 127] {
                var t = tag
                t[bit / 8] ^= UInt8(1 << (bit % 8))
                XCTAssertNil(open(v, ciphertext: ct, tag: t), "\(v.name): flipped tag bit \(bit) must fail")
            }
            if !ct.isEmpty {
                for i in Set([0, ct.count / 2, ct.count - 1]) {
                    var c = ct
                    c[i] ^= 0x01
                    XCTAssertNil(open(v, ciphertext: c, tag: tag), "\(v.name): flipped ciphertext byte \(i) must fail")
                }
            }
            if !aad.isEmpty {
                var a = aad
                a[a.count - 1] ^= 0x80
                XCTAssertNil(open(v, ciphertext: ct, tag: tag, aad: a), "\(v.name): changed AAD must fail")
            } else {
                XCTAssertNil(open(v, ciphertext: ct, tag: tag, aad: [0]), "\(v.name): added AAD must fail")
            }
            var n = iv
            n[0] ^= 0x01
            XCTAssertNil(open(v, ciphertext: ct, tag: tag, iv: n), "\(v.name): changed IV must fail")
        }
    }

    /// The layout tdefs stores: 16-byte nonces, nonce | ciphertext | tag boxes, fresh nonces every seal.
    func testBoxRoundTripAndTamper() {
        for size in AESKeySize.allCases {
            let gcm = AESGCM()
            XCTAssertEqual(gcm.nonceLength, 16)
            let key = (0..<size.gcmKeyBytes).map { UInt8($0 &* 7 &+ 3) }
            key.withUnsafeBytes { gcm.setKey($0, size: size) }
            for length in [0, 1, 15, 16, 17, 4095, 4096] {
                let pt = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }
                let aad = Array("file-id-and-extent".utf8)
                let box1 = gcm.sealBox(pt, aad: aad)
                let box2 = gcm.sealBox(pt, aad: aad)
                XCTAssertEqual(box1.count, 16 + length + 16)
                XCTAssertNotEqual(Array(box1.prefix(16)), Array(box2.prefix(16)), "nonces must be fresh")
                XCTAssertEqual(gcm.openBox(box1, aad: aad), pt, "\(size) length \(length)")
                XCTAssertEqual(gcm.openBox(box2, aad: aad), pt)
                for i in Set([0, 15, 16, box1.count / 2, box1.count - 1]) {
                    var b = box1
                    b[i] ^= 0x40
                    XCTAssertNil(gcm.openBox(b, aad: aad), "\(size) length \(length): flipped byte \(i)")
                }
                XCTAssertNil(gcm.openBox(box1, aad: aad + [0]), "different AAD must fail")
                XCTAssertNil(gcm.openBox(Array(box1.dropLast()), aad: aad), "truncated box must fail")
            }
            XCTAssertNil(gcm.openBox([UInt8](repeating: 0, count: 31), aad: []), "box shorter than nonce+tag")
            XCTAssertNil(gcm.openBox([], aad: []))
        }
    }

    func testWrongKeyFails() {
        let a = AESGCM(), b = AESGCM()
        let k1 = [UInt8](repeating: 1, count: 32), k2 = [UInt8](repeating: 2, count: 32)
        k1.withUnsafeBytes { a.setKey($0, size: .aes256) }
        k2.withUnsafeBytes { b.setKey($0, size: .aes256) }
        let box = a.sealBox(Array("secret".utf8), aad: [])
        XCTAssertNil(b.openBox(box, aad: []))
        // The same 32 bytes as an AES-192 key (first 24 bytes) is a different key.
        let c = AESGCM()
        k1.withUnsafeBytes { c.setKey($0, size: .aes192) }
        XCTAssertNil(c.openBox(box, aad: []))
    }

    func testCipherNames() {
        XCTAssertEqual(AESKeySize.aes256.cipherName, "AES-256-GCM")
        XCTAssertEqual(AESKeySize.aes192.cipherName, "AES-192-GCM")
        XCTAssertEqual(AESKeySize(cipherName: "aes-192-gcm"), .aes192)
        XCTAssertEqual(AESKeySize(cipherName: "AES-256-GCM"), .aes256)
        XCTAssertNil(AESKeySize(cipherName: "bogus"))
        XCTAssertNil(AESKeySize(cipherName: "aes-128-gcm"))
        XCTAssertEqual(AESKeySize.aes256.rawValue, 1, "cipher id in headers")
        XCTAssertEqual(AESKeySize.aes192.rawValue, 2, "cipher id in headers")
    }
}
