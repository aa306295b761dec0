import TDEFSCore
import XCTest

/// The native journal protocol's encoding, byte for byte (systemd's "Native Journal Protocol").
final class JournalEntryTests: XCTestCase {
    func testPlainAndBinaryFields() {
        var e = JournalEntry()
        e.add("MESSAGE", "vol: damaged extent")
        e.add("extent", "1")
        e.add("TEXT", "two\nlines")
        var expected = Array("MESSAGE=vol: damaged extent\nEXTENT=1\nTEXT\n".utf8)
        expected += [9, 0, 0, 0, 0, 0, 0, 0] + Array("two\nlines".utf8) + [0x0A]
        XCTAssertEqual(e.encoded, expected)
    }

    func testFieldNamesAreMadeValid() {
        XCTAssertEqual(JournalEntry.fieldName("path"), "PATH")
        XCTAssertEqual(JournalEntry.fieldName("TDEFS_file-id"), "TDEFS_FILE_ID")
        XCTAssertEqual(JournalEntry.fieldName("_SYSTEMD_UNIT"), "F_SYSTEMD_UNIT", "journald's own fields cannot be forged")
        XCTAssertEqual(JournalEntry.fieldName("1st"), "F1ST")
        XCTAssertEqual(JournalEntry.fieldName(""), "F")
        XCTAssertEqual(JournalEntry.fieldName("é"), "F__")
        XCTAssertEqual(JournalEntry.fieldName(String(repeating: "a", count: 100)).utf8.count, 64)
    }
}
