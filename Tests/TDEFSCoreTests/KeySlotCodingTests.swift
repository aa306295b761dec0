import XCTest
@testable import TDEFSCore

/// tdefs.conf with key slots (format 4): written, read back, sealed; a slot's wrap opens the KEK
/// only with its own material; malformed slots are a corruptConfig. A configuration without
/// slots renders exactly as before slots existed (its seal still verifies).
final class KeySlotCodingTests: XCTestCase {
    func volume() throws -> (VolumeConfig, kek: SecureBytes, material: SecureBytes) {
        let material = SecureBytes.random(count: 32)
        let source = VolumeConfig.KeySource(kdf: .hkdfSHA256, salt: Array(repeating: 1, count: 32), scrypt: nil)
        let kek = try XCTUnwrap(VolumeCrypto.deriveKEK(secret: material, keySource: source))
        var c = VolumeConfig(volumeID: Array(repeating: 2, count: 16), created: "2026-12-04T00:00:00Z", keySource: source,
                             currentEpoch: 1, epochs: [.init(epoch: 1, created: "2026-12-04T00:00:00Z", cipher: .aes256,
                                                              wrappedKey: VolumeCrypto.wrap(masterKey: SecureBytes.random(count: 32), kek: kek,
                                                                                            volumeID: Array(repeating: 2, count: 16), epoch: 1, cipher: .aes256))])
        c.formatVersion = 3
        return (c, kek, material)
    }

    func testASlotWrapsTheKEKAndRoundTrips() throws {
        var (c, kek, _) = try volume()
        let noSlots = c.encoded()
        let second = SecureBytes.random(count: 32)
        let source = try XCTUnwrap(KeySlots.wrapped(.init(kdf: .hkdfSHA256, salt: Array(repeating: 3, count: 32), scrypt: nil),
                                                    material: second, kek: kek, volumeID: c.volumeID))
        c.keySlots = [.init(slot: 1, source: source)]
        XCTAssertNotNil(c.problem(), "slots need format 4")
        c.formatVersion = FormatVersions.keySlots
        XCTAssertNil(c.problem())
        let parsed = try VolumeConfig.parse(c.encoded(), path: "t")
        XCTAssertEqual(parsed, c)
        XCTAssertTrue(try XCTUnwrap(KeySlots.kek(of: parsed.keySlots[0].source, material: second, volumeID: c.volumeID)).constantTimeEquals(kek))
        XCTAssertNil(KeySlots.kek(of: parsed.keySlots[0].source, material: SecureBytes.random(count: 32), volumeID: c.volumeID))
        XCTAssertNil(KeySlots.kek(of: parsed.keySlots[0].source, material: second, volumeID: Array(repeating: 9, count: 16)), "bound to the volume")
        XCTAssertFalse(String(decoding: noSlots, as: UTF8.self).contains("keySlots"), "no slots, no field: older seals still verify")
    }

    func testMalformedSlotsAreRefused() throws {
        var (c, kek, _) = try volume()
        let source = try XCTUnwrap(KeySlots.wrapped(.init(kdf: .hkdfSHA256, salt: Array(repeating: 3, count: 32), scrypt: nil),
                                                    material: SecureBytes.random(count: 32), kek: kek, volumeID: c.volumeID))
        c.keySlots = [.init(slot: 1, source: source)]
        c.formatVersion = 4
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(c.encoded())) as? [String: Any])
        let slot = try XCTUnwrap((object["keySlots"] as? [[String: Any]])?.first)
        let variants: [(String, Any)] = [
            ("slot 0", [slot.merging(["slot": 0]) { $1 }]),
            ("twice", [slot, slot]),
            ("no wrap", [slot.filter { $0.key != "wrappedKEK" }]),
            ("short wrap", [slot.merging(["wrappedKEK": "AAAA"]) { $1 }]),
            ("no slot number", [slot.filter { $0.key != "slot" }]),
            ("not a list", "slots"),
        ]
        for (what, value) in variants {
            var o = object
            o["keySlots"] = value
            XCTAssertThrowsError(try VolumeConfig.parse(Array(try JSONSerialization.data(withJSONObject: o)), path: "t"), what) {
                guard case .corruptConfig? = $0 as? VolumeError else { return XCTFail("\(what): \($0)") }
            }
        }
        var three = object
        three["formatVersion"] = 3
        XCTAssertThrowsError(try VolumeConfig.parse(Array(try JSONSerialization.data(withJSONObject: three)), path: "t"), "slots in format 3")
    }
}
