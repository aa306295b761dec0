import XCTest
import TDEFSCore

/// Reading KMIP responses: a success gives its payload; a refusal its status, reason and message;
/// anything else is malformed, never a trap.
final class KMIPMessageTests: XCTestCase {
    func response(status: UInt32, operation: KMIPEnum.Operation = .decrypt, extra: [TTLV] = [], items: Int = 1) -> TTLV {
        let item = TTLV(KMIPTag.batchItem, .structure([TTLV(KMIPTag.operation, .enumeration(operation.rawValue)),
                                                       TTLV(KMIPTag.resultStatus, .enumeration(status))] + extra))
        return TTLV(KMIPTag.responseMessage, .structure([
            TTLV(KMIPTag.responseHeader, .structure([TTLV(KMIPTag.batchCount, .integer(Int32(items)))])),
        ] + Array(repeating: item, count: items)))
    }

    func testASuccessGivesItsPayload() throws {
        let payload = TTLV(KMIPTag.responsePayload, .structure([TTLV(KMIPTag.uniqueIdentifier, .textString("42")),
                                                                TTLV(KMIPTag.data, .byteString([1, 2, 3]))]))
        let r = try TTLV.decode(response(status: 0, extra: [payload]).encoded())
        let got = try KMIPMessage.payload(ofResponse: r, to: .decrypt)
        XCTAssertEqual(try KMIPOperation.uniqueIdentifier(of: got), "42")
        XCTAssertEqual(try KMIPOperation.data(of: got), [1, 2, 3])
    }

    func testARefusalCarriesReasonAndMessage() {
        let r = response(status: 1, extra: [TTLV(KMIPTag.resultReason, .enumeration(0x0E)),
                                            TTLV(KMIPTag.resultMessage, .textString("key is not active"))])
        XCTAssertThrowsError(try KMIPMessage.payload(ofResponse: r, to: .decrypt)) {
            XCTAssertEqual($0 as? KMIPError, .refused(status: 1, reason: 0x0E, message: "key is not active"))
        }
    }

    func testMalformedResponses() {
        let payload = TTLV(KMIPTag.responsePayload, .structure([]))
        let cases: [(String, TTLV)] = [
            ("a request, not a response", KMIPMessage.request(.get, payload: KMIPOperation.object("1"))),
            ("two batch items", response(status: 0, extra: [payload], items: 2)),
            ("another operation's answer", response(status: 0, operation: .encrypt, extra: [payload])),
            ("no payload", response(status: 0)),
            ("no result status", TTLV(KMIPTag.responseMessage, .structure([TTLV(KMIPTag.responseHeader, .structure([])),
                                                                           TTLV(KMIPTag.batchItem, .structure([]))]))),
        ]
        for (name, r) in cases {
            XCTAssertThrowsError(try KMIPMessage.payload(ofResponse: r, to: .decrypt), name) {
                guard case .malformed? = $0 as? KMIPError else { return XCTFail("\(name): \($0)") }
            }
        }
        XCTAssertThrowsError(try KMIPOperation.keyMaterial(of: payload), "a Get payload without a key")
    }

    /// The request frame: protocol 1.2, one batch item with the operation and its payload.
    func testRequestFrame() throws {
        let r = try TTLV.decode(KMIPMessage.request(.activate, payload: KMIPOperation.object("7")).encoded())
        XCTAssertEqual(r.tag, KMIPTag.requestMessage)
        let version = try XCTUnwrap(r[KMIPTag.requestHeader]?[KMIPTag.protocolVersion])
        XCTAssertEqual(version[KMIPTag.protocolVersionMajor]?.value, .integer(1))
        XCTAssertEqual(version[KMIPTag.protocolVersionMinor]?.value, .integer(2))
        XCTAssertEqual(r[KMIPTag.requestHeader]?[KMIPTag.batchCount]?.value, .integer(1))
        XCTAssertEqual(r[KMIPTag.batchItem]?[KMIPTag.operation]?.value, .enumeration(KMIPEnum.Operation.activate.rawValue))
        XCTAssertEqual(r[KMIPTag.batchItem]?[KMIPTag.requestPayload]?[KMIPTag.uniqueIdentifier]?.value, .textString("7"))
    }
}
