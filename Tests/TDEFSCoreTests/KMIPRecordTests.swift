import XCTest
@testable import TDEFSCore

/// tdefs.conf of a KMIP volume (keySource.kdf "kmip"): the record of the server's key is written,
/// read back and sealed with the rest; every malformed record is a corruptConfig, never a crash;
/// the secret the server gives back derives the KEK as for hkdf-sha256.
final class KMIPRecordTests: XCTestCase {
    var dir = ""

    override func setUp() {
        var template = Array("/tmp/tdefs-kmiprecord-XXXXXX".utf8CString)
        dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    let record = KMIPRecord(keyID: "42", mode: .encrypt, iv: Array(repeating: 7, count: 16), wrappedSecret: Array(repeating: 9, count: 48))

    func makeVolume() throws -> (VolumeConfig, SecureBytes) {
        let secret = SecureBytes.random(count: 32)
        let config = try Volume.create(backingPath: dir + "/v", secret: secret, kdf: .kmip, kmip: record)
        return (config, secret)
    }

    func conf() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/v/tdefs.conf"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func parse(_ object: [String: Any]) throws(VolumeError) -> VolumeConfig {
        let data = try! JSONSerialization.data(withJSONObject: object)
        return try VolumeConfig.parse(Array(data), path: "test")
    }

    func testTheRecordIsWrittenReadBackAndOpensWithTheServersSecret() throws {
        let (config, secret) = try makeVolume()
        let loaded = try Volume.loadConfig(backingPath: dir + "/v")
        XCTAssertEqual(loaded.keySource.kmip, record)
        XCTAssertEqual(loaded, config)
        let source = try XCTUnwrap(try conf()["keySource"] as? [String: Any])
        XCTAssertEqual(source["kdf"] as? String, "kmip")
        XCTAssertEqual((source["kmip"] as? [String: Any])?["keyID"] as? String, "42")
        XCTAssertNoThrow(try Volume.unlock(config: loaded, secret: secret, path: "v"))
        XCTAssertThrowsError(try Volume.unlock(config: loaded, secret: SecureBytes.random(count: 32), path: "v")) {
            XCTAssertEqual($0 as? VolumeError, .wrongKey(path: "v"))
        }
        // The KEK is HKDF-SHA256 of the secret, exactly as for a key volume with the same salt.
        var asKeyVolume = loaded.keySource
        asKeyVolume.kdf = .hkdfSHA256
        asKeyVolume.kmip = nil
        XCTAssertTrue(try XCTUnwrap(VolumeCrypto.deriveKEK(secret: secret, keySource: loaded.keySource))
            .constantTimeEquals(try XCTUnwrap(VolumeCrypto.deriveKEK(secret: secret, keySource: asKeyVolume))))
    }

    func testTheRecordIsSealed() throws {
        let (_, secret) = try makeVolume()
        var object = try conf()
        var source = try XCTUnwrap(object["keySource"] as? [String: Any])
        var kmip = try XCTUnwrap(source["kmip"] as? [String: Any])
        kmip["keyID"] = "43"
        source["kmip"] = kmip
        object["keySource"] = source
        let edited = try parse(object)
        XCTAssertThrowsError(try Volume.unlock(config: edited, secret: secret, path: "v")) {
            guard case .corruptConfig(_, let detail)? = $0 as? VolumeError else { return XCTFail("\($0)") }
            XCTAssertTrue(detail.contains("does not authenticate"), detail)
        }
    }

    func testMalformedRecordsAreRefused() throws {
        _ = try makeVolume()
        let object = try conf()
        let source = try XCTUnwrap(object["keySource"] as? [String: Any])
        let kmip = try XCTUnwrap(source["kmip"] as? [String: Any])
        let b64 = { (n: Int) in Base64URL.encode([UInt8](repeating: 1, count: n)) }
        let variants: [(String, [String: Any]?)] = [
            ("no record", nil),
            ("empty keyID", kmip.merging(["keyID": ""]) { $1 }),
            ("long keyID", kmip.merging(["keyID": String(repeating: "k", count: 257)]) { $1 }),
            ("unknown mode", kmip.merging(["mode": "wrap"]) { $1 }),
            ("short iv", kmip.merging(["iv": b64(15)]) { $1 }),
            ("no iv", kmip.filter { $0.key != "iv" }),
            ("partial block", kmip.merging(["wrappedSecret": b64(47)]) { $1 }),
            ("huge", kmip.merging(["wrappedSecret": b64(2048)]) { $1 }),
            ("not base64", kmip.merging(["iv": "!!"]) { $1 }),
            ("get with a wrapped secret", kmip.merging(["mode": "get"]) { $1 }),
            ("keyID of the wrong type", kmip.merging(["keyID": 42]) { $1 }),
        ]
        for (what, variant) in variants {
            var s = source
            s["kmip"] = variant
            var o = object
            o["keySource"] = s
            XCTAssertThrowsError(try parse(o), what) {
                guard case .corruptConfig? = $0 as? VolumeError else { return XCTFail("\(what): \($0)") }
            }
        }
        // A get-mode record carries the key's ID alone.
        var s = source
        s["kmip"] = ["keyID": "7", "mode": "get"]
        var o = object
        o["keySource"] = s
        XCTAssertEqual(try parse(o).keySource.kmip, KMIPRecord(keyID: "7", mode: .get))
    }
}
