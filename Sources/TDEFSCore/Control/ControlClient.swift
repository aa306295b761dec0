import Glibc

/// Talks to a mounted volume's daemon over its control socket.
public enum ControlClient {
    /// Sends one request; nil when no daemon answers (socket missing, refused, or timed out).
    public static func send(_ request: ControlRequest, volumeID: [UInt8]) -> ControlReply? {
        guard let fd = UnixSocket.connect(ControlSocketPath.path(volumeID: volumeID)) else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out = request.encoded()
        defer { out.withUnsafeMutableBytes { tdefs_zero($0) } }
        guard out.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == out.count else { return nil }
        var buf = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1024)
        while !buf.contains(0x0A) && buf.count <= ControlReply.maxBytes {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            buf += chunk[0..<n]
        }
        return ControlReply.parse(Array(buf.prefix { $0 != 0x0A }))
    }
}
