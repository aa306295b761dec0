import XCTest
@testable import TDEFSCore

/// tdefs.conf's `profile` (VolumeProfile): written after `created`, read back, sealed with the
/// rest; absent in a configuration from before profiles, which then renders (and seals) exactly as
/// before and counts as `general`; an unknown profile is a corruptConfig.
final class VolumeProfileCodingTests: XCTestCase {
    func volume() throws -> (VolumeConfig, kek: SecureBytes) {
        let source = VolumeConfig.KeySource(kdf: .hkdfSHA256, salt: Array(repeating: 1, count: 32), scrypt: nil)
        let kek = try XCTUnwrap(VolumeCrypto.deriveKEK(secret: SecureBytes.random(count: 32), keySource: source))
        var c = VolumeConfig(volumeID: Array(repeating: 2, count: 16), created: "2026-12-04T00:00:00Z", keySource: source,
                             currentEpoch: 1, epochs: [.init(epoch: 1, created: "2026-12-04T00:00:00Z", cipher: .aes256,
                                                              wrappedKey: VolumeCrypto.wrap(masterKey: SecureBytes.random(count: 32), kek: kek,
                                                                                            volumeID: Array(repeating: 2, count: 16), epoch: 1, cipher: .aes256))])
        c.formatVersion = 3
        return (c, kek)
    }

    func testTheProfileRoundTripsAndIsSealed() throws {
        var (c, kek) = try volume()
        let before = String(decoding: c.encoded(), as: UTF8.self)
        XCTAssertFalse(before.contains("profile"), "no profile, no field: seals from before profiles still verify")
        XCTAssertEqual(c.effectiveProfile, .general, "a volume from before profiles kept its extended attributes")
        for profile in VolumeProfile.allCases {
            c.profile = profile
            try VolumeConfigSeal.seal(&c, kek: kek, path: "t")
            let text = String(decoding: c.encoded(), as: UTF8.self)
            XCTAssertTrue(text.contains("\"created\": \"2026-12-04T00:00:00Z\",\n  \"profile\": \"\(profile.rawValue)\""), text)
            let parsed = try VolumeConfig.parse(c.encoded(), path: "t")
            XCTAssertEqual(parsed, c)
            XCTAssertEqual(parsed.effectiveProfile, profile)
            XCTAssertTrue(VolumeConfigSeal.verifies(parsed, kek: kek))
            // The other profile in place of this one: the seal no longer verifies.
            var flipped = parsed
            flipped.profile = profile == .database ? .general : .database
            XCTAssertFalse(VolumeConfigSeal.verifies(flipped, kek: kek), "the profile is covered by the seal")
        }
        XCTAssertFalse(VolumeProfile.database.extendedAttributes)
        XCTAssertTrue(VolumeProfile.general.extendedAttributes)
    }

    func testAnUnknownProfileIsRefused() throws {
        var (c, _) = try volume()
        c.profile = .database
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(c.encoded())) as? [String: Any])
        for value in ["fast", "", 3] as [Any] {
            var o = object
            o["profile"] = value
            XCTAssertThrowsError(try VolumeConfig.parse(Array(try JSONSerialization.data(withJSONObject: o)), path: "t"), "\(value)") {
                guard case .corruptConfig(_, let detail)? = $0 as? VolumeError else { return XCTFail("\(value): \($0)") }
                XCTAssertTrue(detail.contains("profile"), detail)
            }
        }
    }
}
