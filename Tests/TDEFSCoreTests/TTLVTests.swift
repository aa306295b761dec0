import XCTest
import TDEFSCore

/// The KMIP TTLV codec, pinned by the examples of the KMIP 1.1 specification (section 9.1.2),
/// byte for byte both ways, and its refusals of malformed input.
final class TTLVTests: XCTestCase {
    /// "42 00 20 | 07 | ..." as bytes.
    func bytes(_ spec: String) -> [UInt8] {
        let hex = spec.filter(\.isHexDigit)
        return stride(from: 0, to: hex.count, by: 2).map {
            UInt8(hex[hex.index(hex.startIndex, offsetBy: $0)..<hex.index(hex.startIndex, offsetBy: $0 + 2)], radix: 16)!
        }
    }

    static let specExamples: [(String, TTLV.Value, String)] = [
        ("an Integer, 8", .integer(8), "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00"),
        ("a Long Integer, 123456789000000000", .longInteger(123_456_789_000_000_000), "42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00"),
        ("a Big Integer, 1234567890000000000000000000",
         .bigInteger([0x00, 0x00, 0x00, 0x00, 0x03, 0xFD, 0x35, 0xEB, 0x6B, 0xC2, 0xDF, 0x46, 0x18, 0x08, 0x00, 0x00]),
         "42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00"),
        ("an Enumeration, 255", .enumeration(255), "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"),
        ("a Boolean, True", .boolean(true), "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01"),
        ("a Text String, Hello World", .textString("Hello World"),
         "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00"),
        ("a Byte String, 01 02 03", .byteString([1, 2, 3]), "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00"),
        ("a Date-Time, Friday, March 14, 2008, 11:56:40 GMT", .dateTime(1_205_495_800), "42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8"),
        ("an Interval, 10 days", .interval(864_000), "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00"),
        ("a Structure of an Enumeration 254 (tag 420004) and an Integer 255 (tag 420005)",
         .structure([TTLV(0x420004, .enumeration(254)), TTLV(0x420005, .integer(255))]),
         "42 00 20 | 01 | 00 00 00 20 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | 42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"),
    ]

    func testSpecificationExamplesBothWays() throws {
        for (name, value, spec) in Self.specExamples {
            let item = TTLV(0x420020, value)
            XCTAssertEqual(item.encoded(), bytes(spec), name)
            XCTAssertEqual(try TTLV.decode(bytes(spec)), item, name)
            XCTAssertEqual(TTLV.itemLength(header: Array(bytes(spec).prefix(8)), limit: 1 << 20), bytes(spec).count, name)
        }
    }

    func testStructureItemsByTag() throws {
        let s = try TTLV.decode(bytes(Self.specExamples.last!.2))
        XCTAssertEqual(s[0x420005]?.value, .integer(255))
        XCTAssertNil(s[0x420006])
        XCTAssertEqual(s.items.count, 2)
        XCTAssertEqual(TTLV(0x420001, .integer(1)).items, [], "only a structure has items")
    }

    func testNegativeAndEmptyValues() throws {
        for value: TTLV.Value in [.integer(-1), .longInteger(.min), .textString(""), .byteString([]), .structure([]),
                                  .textString("ünïcödé"), .byteString([UInt8](repeating: 0xAB, count: 16))] {
            let item = TTLV(0x42007C, value)
            XCTAssertEqual(try TTLV.decode(item.encoded()), item, "\(value)")
            XCTAssertEqual(item.encoded().count % 8, 0)
        }
    }

    func testMalformedInputIsRefused() {
        let good = bytes("42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00")
        var padded = good
        padded[good.count - 1] = 1
        let longer = bytes("42 00 20 | 02 | 00 00 00 08 | 00 00 00 08 00 00 00 00")
        var deep = TTLV(0x420001, .integer(0))
        for _ in 0..<TTLV.maxDepth { deep = TTLV(0x420001, .structure([deep])) }
        let cases: [(String, [UInt8], TTLV.DecodeError)] = [
            ("empty", [], .truncated),
            ("a header only", Array(good.prefix(8)), .truncated),
            ("cut in the padding", Array(good.dropLast()), .truncated),
            ("nonzero padding", padded, .nonzeroPadding),
            ("trailing bytes", good + [UInt8](repeating: 0, count: 8), .trailingBytes),
            ("an Integer of 8 bytes", longer, .badLength(type: 2, length: 8)),
            ("a Boolean of 2", bytes("42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 02"), .badBoolean),
            ("type 0x0B", bytes("42 00 20 | 0B | 00 00 00 00"), .unknownType(0x0B)),
            ("a Big Integer of 4 bytes", bytes("42 00 20 | 04 | 00 00 00 04 | 00 00 00 01 00 00 00 00"), .badLength(type: 4, length: 4)),
            ("a Text String that is not UTF-8", bytes("42 00 20 | 07 | 00 00 00 02 | C3 28 00 00 00 00 00 00"), .notUTF8),
            ("a length past the end", bytes("42 00 20 | 08 | FF FF FF F0 | 00 00 00 00 00 00 00 00"), .truncated),
            ("an item longer than its structure",
             bytes("42 00 20 | 01 | 00 00 00 08 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00"), .truncated),
            ("nested too deep", deep.encoded(), .tooDeep),
        ]
        for (name, input, expected) in cases {
            XCTAssertThrowsError(try TTLV.decode(input), name) { XCTAssertEqual($0 as? TTLV.DecodeError, expected, name) }
        }
        XCTAssertNil(TTLV.itemLength(header: Array(good.prefix(7)), limit: 1 << 20))
        XCTAssertNil(TTLV.itemLength(header: bytes("42 00 78 | 01 | 01 00 00 00"), limit: 1 << 20), "over the limit")
    }
}
