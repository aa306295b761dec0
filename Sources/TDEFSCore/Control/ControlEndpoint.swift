import CPlatform
import Glibc

/// Which daemon the CLI talks to (issue 19, item 4). The backing directory's device and inode name
/// its socket, so a copy of the volume (same volume ID, another directory) mounted beside it gets
/// a socket of its own; a nonce the daemon draws at start and keeps in BACKING/tdefs.lock names
/// the daemon itself. Requests carry the identity the CLI expects, replies the daemon's own, and
/// each side refuses a mismatch.
public struct ControlEndpoint: Sendable, Equatable {
    public let volumeID: [UInt8]
    public let device: UInt64
    public let inode: UInt64

    public init(volumeID: [UInt8], device: UInt64, inode: UInt64) {
        self.volumeID = volumeID; self.device = device; self.inode = inode
    }

    /// The endpoint of the backing directory at `backingPath`; nil when it cannot be opened.
    public static func of(backingPath: String, volumeID: [UInt8]) -> ControlEndpoint? {
        let fd = open(backingPath, tdefs_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstatat(fd, "", &st, tdefs_AT_EMPTY_PATH) == 0 else { return nil }
        return ControlEndpoint(volumeID: volumeID, device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// /run/tdefs/<volume ID>-<device>-<inode>.sock (hex numbers; at most 72 bytes).
    public var socketPath: String {
        ControlSocketPath.directory + "/" + Base64URL.encode(volumeID) + "-" + String(device, radix: 16) + "-"
            + String(inode, radix: 16) + ".sock"
    }

    /// What a request expects and a reply says: "<device>-<inode>-<nonce>".
    public func identity(nonce: String) -> String { String(device, radix: 16) + "-" + String(inode, radix: 16) + "-" + nonce }

    /// A fresh daemon nonce (16 random bytes, base64url).
    public static func newNonce() -> String { Base64URL.encode(Random.bytes(16)) }
}
