import Foundation
import XCTest
@testable import TDEFSCore

/// Control-socket messages (one JSON object per line): well-formed requests and replies round-trip,
/// anything else is refused (nil), never trapped on.
final class ControlMessageTests: XCTestCase {
    func request(_ s: String) -> ControlRequest? { ControlRequest.parse(Array(s.utf8)) }
    func reply(_ s: String) -> ControlReply? { ControlReply.parse(Array(s.utf8)) }

    func testRequestsRoundTrip() {
        let key = Base64URL.encode([UInt8](repeating: 7, count: VolumeCrypto.masterKeyBytes))
        let requests = [
            ControlRequest(op: .status), ControlRequest(op: .recount), ControlRequest(op: .retire, epoch: 1),
            ControlRequest(op: .reencrypt, epoch: 2), ControlRequest(op: .addEpoch, epoch: 2, cipher: "AES-256-GCM", key: key),
        ]
        for r in requests {
            XCTAssertEqual(ControlRequest.parse(Array(r.encoded().dropLast())), r)
        }
        XCTAssertEqual(request(#"{"op":"recount"}"#), ControlRequest(op: .recount))
        // The master key after the line (keyLength), instead of in it.
        var raw = ControlRequest(op: .addEpoch, epoch: 2, cipher: "AES-256-GCM")
        raw.keyLength = VolumeCrypto.masterKeyBytes
        XCTAssertEqual(ControlRequest.parse(Array(raw.encoded().dropLast())), raw)
        XCTAssertNil(request(#"{"op":"add-epoch","epoch":2,"cipher":"AES-256-GCM","keyLength":31}"#))
        XCTAssertNil(request(#"{"op":"add-epoch","epoch":2,"cipher":"AES-256-GCM","keyLength":32,"key":"\#(key)"}"#), "not both")
    }

    func testMalformedRequests() {
        let bad = [
            "", "{", "null", "[]", "42", #""status""#, #"{}"#, #"{"op":"nope"}"#, #"{"op":null}"#, #"{"op":1}"#,
            #"{"op":"retire"}"#, #"{"op":"reencrypt","epoch":-1}"#, #"{"op":"reencrypt","epoch":4294967296}"#,
            #"{"op":"add-epoch","epoch":2}"#, #"{"op":"add-epoch","epoch":2,"cipher":"AES-128-GCM","key":"AAAA"}"#,
            #"{"op":"add-epoch","epoch":2,"cipher":"AES-256-GCM","key":"short"}"#, #"{"op":"status"}{"op":"status"}"#,
            #"{"op":"status","epoch":"one"}"#, "{\"op\":\"status\"" + String(repeating: " ", count: 5000) + "}",
        ]
        for s in bad { XCTAssertNil(request(s), "\(s.prefix(80).debugDescription) must be refused") }
        XCTAssertNil(ControlRequest.parse([0xFF, 0xFE, 0x00]))
    }

    func testRepliesWithACensusRoundTrip() {
        let census = ControlReply.Census(state: "current", countedAt: "2026-11-22T12:00:00Z",
                                         epochs: [.init(epoch: 1, files: 3, directories: 2, symlinks: 1),
                                                  .init(epoch: 2, files: 0, directories: 1, symlinks: 0)],
                                         damagedHeaders: 1, unreadable: 0)
        let r = ControlReply(ok: true, currentEpoch: 2, epochs: [1, 2], census: census)
        XCTAssertEqual(ControlReply.parse(Array(r.encoded().dropLast())), r)
        let c = try? XCTUnwrap(r.census?.fileCensus)
        XCTAssertEqual(c?.filesPerEpoch, [1: 3])
        XCTAssertEqual(c?.directoriesPerEpoch, [1: 2, 2: 1])
        XCTAssertEqual(c?.symlinksPerEpoch, [1: 1])
        XCTAssertEqual(c?.damagedHeaders, 1)
        let counting = ControlReply.Census(state: "counting", countedAt: nil, epochs: [], damagedHeaders: 0, unreadable: 0)
        XCTAssertNil(counting.fileCensus, "no counts while the first walk runs")
        // A reply of an older daemon, without a census.
        XCTAssertEqual(reply(#"{"ok":true,"currentEpoch":1,"epochs":[1]}"#)?.census, nil)
    }

    func testMalformedReplies() {
        let bad = [
            "", "{", #"{}"#, #"{"ok":"yes"}"#, #"{"ok":true,"census":{}}"#,
            #"{"ok":true,"census":{"state":"bogus","epochs":[],"damagedHeaders":0,"unreadable":0}}"#,
            #"{"ok":true,"census":{"state":"current","epochs":[{"epoch":1,"files":-1,"directories":0,"symlinks":0}],"damagedHeaders":0,"unreadable":0}}"#,
            #"{"ok":true,"census":{"state":"current","epochs":[],"damagedHeaders":-2,"unreadable":0}}"#,
            #"{"ok":true,"census":{"state":"current","epochs":[{"epoch":1,"files":1,"directories":0,"symlinks":0},{"epoch":1,"files":2,"directories":0,"symlinks":0}],"damagedHeaders":0,"unreadable":0}}"#,
            #"{"ok":true,"census":{"state":"current","epochs":[{"epoch":1}],"damagedHeaders":0,"unreadable":0}}"#,
            "{\"ok\":true,\"error\":\"" + String(repeating: "x", count: ControlReply.maxBytes) + "\"}",
        ]
        for s in bad { XCTAssertNil(reply(s), "\(s.prefix(100).debugDescription) must be refused") }
    }
}
