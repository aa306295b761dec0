import XCTest
@testable import TDEFSCore

/// tdefs.conf of a PKCS#11 volume (keySource.kdf "pkcs11"): the record is written, read back and
/// sealed; malformed records (a PIN in the URI among them) are a corruptConfig, never a crash.
final class PKCS11RecordTests: XCTestCase {
    let record = PKCS11Record(uri: "pkcs11:token=t;object=k", iv: Array(repeating: 1, count: 12), wrappedSecret: Array(repeating: 2, count: 48))

    func config() throws -> [String: Any] {
        var c = VolumeConfig(volumeID: Array(repeating: 3, count: 16), created: "2026-12-04T00:00:00Z",
                             keySource: .init(kdf: .pkcs11, salt: Array(repeating: 4, count: 32), scrypt: nil, pkcs11: record),
                             currentEpoch: 1, epochs: [.init(epoch: 1, created: "2026-12-04T00:00:00Z", cipher: .aes256,
                                                              wrappedKey: Array(repeating: 5, count: VolumeConfig.wrappedKeyBytes))])
        c.formatVersion = 3
        XCTAssertNil(c.problem())
        let parsed = try VolumeConfig.parse(c.encoded(), path: "t")
        XCTAssertEqual(parsed.keySource.pkcs11, record)
        XCTAssertEqual(parsed, c)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(c.encoded())) as? [String: Any])
    }

    func testMalformedRecordsAreRefused() throws {
        let object = try config()
        let source = try XCTUnwrap(object["keySource"] as? [String: Any])
        let p = try XCTUnwrap(source["pkcs11"] as? [String: Any])
        let b64 = { (n: Int) in Base64URL.encode([UInt8](repeating: 1, count: n)) }
        let variants: [(String, [String: Any]?)] = [
            ("no record", nil),
            ("not a pkcs11 URI", p.merging(["uri": "file:/k"]) { $1 }),
            ("a PIN in the URI", p.merging(["uri": "pkcs11:token=t;object=k?pin-value=1234"]) { $1 }),
            ("long URI", p.merging(["uri": "pkcs11:" + String(repeating: "a", count: 1100)]) { $1 }),
            ("short iv", p.merging(["iv": b64(11)]) { $1 }),
            ("short wrapped key", p.merging(["wrappedSecret": b64(47)]) { $1 }),
            ("no wrapped key", p.filter { $0.key != "wrappedSecret" }),
            ("uri of the wrong type", p.merging(["uri": 7]) { $1 }),
        ]
        for (what, variant) in variants {
            var s = source
            s["pkcs11"] = variant
            var o = object
            o["keySource"] = s
            let data = try JSONSerialization.data(withJSONObject: o)
            XCTAssertThrowsError(try VolumeConfig.parse(Array(data), path: "t"), what) {
                guard case .corruptConfig? = $0 as? VolumeError else { return XCTFail("\(what): \($0)") }
            }
        }
    }

    func testTheURIIsRedactedOfPINs() {
        XCTAssertEqual(PKCS11Token.redacted("pkcs11:token=t;object=k?pin-source=file:/p&module-path=/m.so"), "pkcs11:token=t;object=k?module-path=/m.so")
        XCTAssertEqual(PKCS11Token.redacted("pkcs11:token=t?pin-value=1"), "pkcs11:token=t")
        XCTAssertEqual(PKCS11Token.pinSource(of: "pkcs11:token=t?pin-source=file:%2Fetc%2Fpin"), "file:/etc/pin")
        XCTAssertNil(PKCS11Token.pinSource(of: "pkcs11:token=t"))
    }
}
