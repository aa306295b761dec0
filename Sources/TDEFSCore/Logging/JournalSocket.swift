import Glibc

/// The journal's native socket (/run/systemd/journal/socket; a journal namespace NAME listens on
/// /run/systemd/journal.NAME/socket), written with one datagram per entry.
public final class JournalSocket: @unchecked Sendable {
    public static let defaultPath = "/run/systemd/journal/socket"
    public let path: String
    private let fd: Int32
    private var address = sockaddr_un()
    private let addressLength: socklen_t

    /// Nil when `path` is not a socket.
    public init?(path: String = JournalSocket.defaultPath) {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return nil }
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { dst in
            for (i, b) in bytes.enumerated() { dst[i] = b }
        }
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
    }

    deinit { close(fd) }

    /// Sends one encoded entry; false when the journal did not take it.
    @discardableResult
    public func send(_ datagram: [UInt8]) -> Bool {
        datagram.withUnsafeBytes { p in
            withUnsafePointer(to: &address) { a in
                a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    sendto(fd, p.baseAddress, p.count, Int32(MSG_NOSIGNAL), sa, addressLength) == p.count
                }
            }
        }
    }

    public func send(_ entry: JournalEntry) -> Bool { send(entry.encoded) }
}
