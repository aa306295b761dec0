import XCTest
import TDEFSTestSupport
@testable import TDEFSCore

/// KMIPConnection against a real PyKMIP server over mutual TLS (KMIPTestServer): a key made,
/// activated, used to encrypt and decrypt, then revoked and refused; a client certificate of
/// another CA, a server reached by a name its certificate does not carry, and a server that is
/// down are each a clear transport error.
final class KMIPServerTests: XCTestCase {
    nonisolated(unsafe) static var server: KMIPTestServer?  // one server for the class (XCTest runs its tests one by one)

    override class func tearDown() {
        server?.stop()
        server = nil
        super.tearDown()
    }

    func theServer() throws -> KMIPTestServer {
        if let s = Self.server { return s }
        let s = try KMIPTestServer()
        Self.server = s
        return s
    }

    func connect(_ s: KMIPTestServer, host: String = "127.0.0.1", rogue: Bool = false) throws(KMIPError) -> KMIPConnection {
        try KMIPConnection(host: host, port: s.port, credentials: .init(clientCertificate: rogue ? s.rogueCertificate : s.clientCertificate,
                                                                        clientKey: rogue ? s.rogueKey : s.clientKey,
                                                                        caCertificates: s.caCertificate))
    }

    func call(_ c: KMIPConnection, _ op: KMIPEnum.Operation, _ payload: [TTLV]) throws -> TTLV {
        try KMIPMessage.payload(ofResponse: try c.roundTrip(KMIPMessage.request(op, payload: payload)), to: op)
    }

    func testAKeyEncryptsAndDecryptsUntilItIsRevoked() throws {
        let s = try theServer()
        let c = try connect(s)
        let id = try KMIPOperation.uniqueIdentifier(of: try call(c, .create, KMIPOperation.create(bits: 256, name: "tdefs-test-\(s.port)")))
        _ = try call(c, .activate, KMIPOperation.object(id))
        let secret = (0..<32).map { UInt8($0 * 3 + 1) }, iv = (0..<16).map { UInt8($0) }
        let wrapped = try KMIPOperation.data(of: try call(c, .encrypt, KMIPOperation.cipher(id, data: secret, iv: iv)))
        XCTAssertEqual(wrapped.count, 48)
        XCTAssertNotEqual(Array(wrapped.prefix(32)), secret)
        XCTAssertEqual(try KMIPOperation.data(of: try call(c, .decrypt, KMIPOperation.cipher(id, data: wrapped, iv: iv))), secret)
        XCTAssertEqual(try KMIPOperation.keyMaterial(of: try call(c, .get, KMIPOperation.object(id))).count, 32, "Get gives the key")

        _ = try call(c, .revoke, KMIPOperation.revoke(id))
        XCTAssertThrowsError(try call(c, .decrypt, KMIPOperation.cipher(id, data: wrapped, iv: iv))) {
            guard case .refused(let status, let reason, let message)? = $0 as? KMIPError else { return XCTFail("\($0)") }
            XCTAssertEqual(status, 1, "Operation Failed")
            XCTAssertEqual(reason, 0x0C, "Permission Denied")
            XCTAssertTrue(message?.contains("Active state") ?? false, message ?? "")
        }
        _ = try call(c, .destroy, KMIPOperation.object(id))
        XCTAssertThrowsError(try call(c, .get, KMIPOperation.object(id)), "a destroyed key is gone")
    }

    func testAClientCertificateOfAnotherCAIsRefused() throws {
        let s = try theServer()
        XCTAssertThrowsError(try { () throws -> Void in
            let c = try connect(s, rogue: true)
            _ = try c.roundTrip(KMIPMessage.request(.get, payload: KMIPOperation.object("1")))
        }()) {
            guard case .transport? = $0 as? KMIPError else { return XCTFail("\($0)") }
        }
    }

    func testAServerReachedByANameItsCertificateDoesNotCarryIsRefused() throws {
        let s = try theServer()
        XCTAssertThrowsError(try connect(s, host: "localhost")) {
            guard case .transport(let why)? = $0 as? KMIPError else { return XCTFail("\($0)") }
            XCTAssertTrue(why.contains("does not verify"), why)
        }
    }

    func testAServerThatIsDownIsATransportError() throws {
        let s = try theServer()
        XCTAssertThrowsError(try KMIPConnection(host: "127.0.0.1", port: KMIPTestServer.freePort(),
                                                credentials: .init(clientCertificate: s.clientCertificate, clientKey: s.clientKey,
                                                                   caCertificates: s.caCertificate))) {
            guard case .transport(let why)? = $0 as? KMIPError else { return XCTFail("\($0)") }
            XCTAssertTrue(why.contains("cannot connect"), why)
        }
    }

    func testEndpointParsing() {
        XCTAssertTrue(KMIPConnection.parseEndpoint("127.0.0.1:5696")! == ("127.0.0.1", 5696))
        XCTAssertTrue(KMIPConnection.parseEndpoint("kms.example:5696")! == ("kms.example", 5696))
        XCTAssertTrue(KMIPConnection.parseEndpoint("[::1]:5696")! == ("::1", 5696))
        for bad in ["", "host", "host:", ":5696", "host:0", "host:70000", "::1:5696", "[::1]5696"] {
            XCTAssertNil(KMIPConnection.parseEndpoint(bad), bad)
        }
    }
}
