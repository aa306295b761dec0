import XCTest
import TDEFSCore

final class Base64URLTests: XCTestCase {
    /// RFC 4648 section 10 vectors, without padding.
    func testRFC4648Vectors() {
        let cases: [(String, String)] = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"),
                                         ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")]
        for (plain, enc) in cases {
            XCTAssertEqual(Base64URL.encode(Array(plain.utf8)), enc)
            XCTAssertEqual(Base64URL.decode(enc), Array(plain.utf8))
        }
    }

    func testURLAlphabet() {
        XCTAssertEqual(Base64URL.encode([0xfb, 0xff, 0xbf]), "-_-_")
        XCTAssertEqual(Base64URL.encode([0xff, 0xff, 0xff]), "____")
        XCTAssertEqual(Base64URL.decode("-_-_"), [0xfb, 0xff, 0xbf])
    }

    func testRoundTripsAllLengthsAndBytes() {
        var rng = SystemRandomNumberGenerator()
        for length in 0..<300 {
            let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let enc = Base64URL.encode(data)
            XCTAssertEqual(enc.utf8.count, (length * 4 + 2) / 3)
            XCTAssertFalse(enc.contains("."), "never a '.', so reserved names cannot collide")
            XCTAssertFalse(enc.contains("/"))
            XCTAssertFalse(enc.contains("="))
            XCTAssertEqual(Base64URL.decode(enc), data, "length \(length)")
        }
        let all = (0...255).map { UInt8($0) }
        XCTAssertEqual(Base64URL.decode(Base64URL.encode(all)), all)
    }

    func testMalformedInputs() {
        let bad = [
            "A",           // impossible length (4n+1)
            "AAAAA",
            "Zg==",        // padding is not part of the format
            "Zg=",
            "Zm9v+g",      // standard-alphabet characters
            "Zm9v/g",
            "Zm 9v",       // whitespace
            "Zm9v\n",
            "Zm.9",        // '.', the reserved-name marker
            "Zh",          // non-zero leftover bits (Zg is the canonical encoding of "f")
            "Zm9",         // "fo" canonically is Zm8
            "\u{00e9}AAA", // non-ASCII
            "AA\u{0000}A",
        ]
        for s in bad {
            XCTAssertNil(Base64URL.decode(s), "\(s.debugDescription) must be rejected")
        }
        XCTAssertNil(Base64URL.decode([0xff, 0x41, 0x41, 0x41]))
        XCTAssertEqual(Base64URL.decode(""), [])
    }

    func testEveryStringDecodesToOneCanonicalEncoding() {
        // Exhaustive over all 2- and 3-character strings of a small alphabet: decode(s) != nil implies encode(decode(s)) == s.
        let chars = Array("AZaz09-_gh".utf8)
        for a in chars { for b in chars {
            let s2 = [a, b]
            if let d = Base64URL.decode(s2) { XCTAssertEqual(Array(Base64URL.encode(d).utf8), s2) }
            for c in chars {
                let s3 = [a, b, c]
                if let d = Base64URL.decode(s3) { XCTAssertEqual(Array(Base64URL.encode(d).utf8), s3) }
            }
        } }
    }
}
