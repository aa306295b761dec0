import XCTest
@testable import TDEFSCore

/// The mark `tdefs shred` leaves in tdefs.conf is read as "shredded" only when it holds no keys:
/// a "shredded" field added to a whole configuration is damage (exit 11 as corrupt), not a way to
/// make a good volume say it was destroyed.
final class ShredMarkerTests: XCTestCase {
    func testTheMarkAloneIsAShredAndAMarkInsideAConfigurationIsDamage() throws {
        let mark = #"{"format":"tdefs","formatVersion":3,"volumeID":"AAAAAAAAAAAAAAAAAAAAAA","shredded":"2026-12-04T20:00:00Z"}"#
            + String(repeating: " ", count: 40) + "\n"
        XCTAssertThrowsError(try VolumeConfig.parse(Array(mark.utf8), path: "v")) {
            XCTAssertEqual($0 as? VolumeError, .shredded(path: "v", when: "2026-12-04T20:00:00Z"))
        }
        let whole = #"{"format":"tdefs","formatVersion":3,"volumeID":"AAAAAAAAAAAAAAAAAAAAAA","shredded":"x","created":"c","#
            + #""keySource":{"kdf":"hkdf-sha256","salt":"AAAA"},"currentEpoch":1,"epochs":[]}"#
        XCTAssertThrowsError(try VolumeConfig.parse(Array(whole.utf8), path: "v")) {
            guard case .corruptConfig(_, let detail)? = $0 as? VolumeError else { return XCTFail("\($0)") }
            XCTAssertTrue(detail.contains("shred's mark"), detail)
        }
    }
}
