import Glibc

/// Talks to a mounted volume's daemon over its control socket.
public enum ControlClient {
    /// Sends one request to the daemon serving the backing directory at `backingPath`, as
    /// BACKING/tdefs.lock names it; nil when no daemon answers (socket missing, refused, timed
    /// out) or another daemon answers.
    /// `key` (an add-epoch's master key) goes after the request line, from locked memory.
    public static func send(_ request: ControlRequest, backingPath: String, volumeID: [UInt8], key: SecureBytes? = nil) -> ControlReply? {
        guard let endpoint = ControlEndpoint.of(backingPath: backingPath, volumeID: volumeID),
              let nonce = VolumeLock.daemonNonce(backingPath: backingPath) else { return nil }
        return send(request, endpoint: endpoint, nonce: nonce, key: key)
    }

    /// Sends one request to the daemon `nonce` at `endpoint`; nil unless that daemon answers.
    public static func send(_ request: ControlRequest, endpoint: ControlEndpoint, nonce: String, key: SecureBytes? = nil) -> ControlReply? {
        let identity = endpoint.identity(nonce: nonce)
        var request = request
        request.daemon = identity
        if let key { request.keyLength = key.count; request.key = nil }
        guard let fd = UnixSocket.connect(endpoint.socketPath) else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out = request.encoded()
        defer { out.withUnsafeMutableBytes { tdefs_zero($0) } }
        guard out.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == out.count else { return nil }
        if let key {
            guard key.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == key.count else { return nil }
        }
        var buf = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1024)
        while !buf.contains(0x0A) && buf.count <= ControlReply.maxBytes {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            buf += chunk[0..<n]
        }
        guard let reply = ControlReply.parse(Array(buf.prefix { $0 != 0x0A })), reply.daemon == identity else { return nil }
        return reply
    }
}
