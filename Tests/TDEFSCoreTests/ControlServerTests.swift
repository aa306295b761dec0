import Glibc
import Logging
import XCTest
@testable import TDEFSCore

/// A daemon's control socket in-process (issue 19, item 4): it never binds over a socket someone
/// answers on, it refuses a request for another daemon, and the client refuses a reply from one.
final class ControlServerTests: XCTestCase {
    func testNoBindOverALiveSocketAndIdentitiesAreChecked() throws {
        let fixture = try EngineFixture()
        defer { fixture.remove() }
        let endpoint = try XCTUnwrap(ControlEndpoint.of(backingPath: fixture.backing, volumeID: fixture.keyring.volumeID))
        let logger = Logger(label: "test")
        let first = try ControlServer(endpoint: endpoint, nonce: "first", keyring: fixture.keyring, fileSystem: fixture.fs, configGeneration: 1, logger: logger)
        first.start()
        defer { first.stop() }
        XCTAssertThrowsError(try ControlServer(endpoint: endpoint, nonce: "second", keyring: fixture.keyring, fileSystem: fixture.fs,
                                               configGeneration: 1, logger: logger)) { XCTAssertEqual($0 as? Errno, Errno(EADDRINUSE)) }
        let reply = try XCTUnwrap(ControlClient.send(ControlRequest(op: .status), endpoint: endpoint, nonce: "first"),
                                  "the first daemon still answers")
        XCTAssertTrue(reply.ok)
        XCTAssertEqual(reply.daemon, endpoint.identity(nonce: "first"))
        // Expecting another daemon: the server refuses the request, and the client its reply.
        XCTAssertNil(ControlClient.send(ControlRequest(op: .status), endpoint: endpoint, nonce: "second"))
        // Another backing directory (a copy of the volume: same volume ID) has another socket.
        let other = ControlEndpoint(volumeID: endpoint.volumeID, device: endpoint.device, inode: endpoint.inode + 1)
        XCTAssertNotEqual(other.socketPath, endpoint.socketPath)
        XCTAssertLessThan(endpoint.socketPath.utf8.count, 108)
    }

    /// rotate's master key: sent after the request line from locked memory, read by the daemon
    /// into locked memory, and the epoch it unlocks opens under exactly that key.
    func testAnAddedEpochsKeyTravelsAfterTheRequestLine() throws {
        let fixture = try EngineFixture()
        defer { fixture.remove() }
        let endpoint = try XCTUnwrap(ControlEndpoint.of(backingPath: fixture.backing, volumeID: fixture.keyring.volumeID))
        let server = try ControlServer(endpoint: endpoint, nonce: "n", keyring: fixture.keyring, fileSystem: fixture.fs,
                                       configGeneration: 1, logger: Logger(label: "test"))
        server.start()
        defer { server.stop() }
        let master = SecureBytes.random(count: VolumeCrypto.masterKeyBytes)
        let epoch = fixture.keyring.current.epoch + 1
        let reply = try XCTUnwrap(ControlClient.send(ControlRequest(op: .addEpoch, epoch: epoch, cipher: "AES-256-GCM"),
                                                     endpoint: endpoint, nonce: "n", key: master))
        XCTAssertTrue(reply.ok, reply.error ?? "")
        XCTAssertEqual(reply.currentEpoch, epoch)
        XCTAssertTrue(try XCTUnwrap(fixture.keyring.epoch(epoch)).masterKey.constantTimeEquals(master))
        // A key of the wrong length is refused (or the daemon hangs up first), and nothing changes.
        let short = ControlRequest(op: .addEpoch, epoch: epoch + 1, cipher: "AES-256-GCM")
        XCTAssertNotEqual(ControlClient.send(short, endpoint: endpoint, nonce: "n", key: SecureBytes.random(count: 16))?.ok, true)
        XCTAssertNil(fixture.keyring.epoch(epoch + 1))
    }
}
