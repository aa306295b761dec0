import CPlatform
import Glibc
import Logging
import Synchronization

/// A very small HTTP/1.0 responder for `GET /metrics` on a Unix socket or a loopback port: one
/// thread, one connection at a time, each closed after its answer. Scrapes come once every few
/// seconds at most; a client gets 5 s in all to send its request head, so a stalled one delays
/// the next scrape by at most that. A malformed request gets a 4xx answer, never a crash.
public final class MetricsServer: Sendable {
    public let endpoint: MetricsEndpoint
    let listenFD: Int32
    /// The Unix socket this server made (device, inode), removed at stop only if it is still there.
    let socketFile: (dev: UInt64, ino: UInt64)?
    let logger: Logger
    let body: @Sendable () -> [UInt8]
    let stopped = Atomic<Bool>(false)

    /// Time a client has to send its request head.
    static let requestTimeoutSeconds = 5

    /// Binds and listens; `body` makes the text of each answer to GET /metrics.
    public init(endpoint: MetricsEndpoint, logger: Logger, body: @escaping @Sendable () -> [UInt8]) throws(MetricsServerError) {
        self.endpoint = endpoint
        self.logger = logger
        self.body = body
        switch endpoint {
        case .unix(let path):
            (listenFD, socketFile) = try Self.listenUnix(path)
        case .tcp(let address, let port, let ipv6):
            listenFD = try Self.listenTCP(address, port, ipv6: ipv6)
            socketFile = nil
        }
    }

    /// Serves on a thread of its own until `stop()`.
    public func start() {
        let r = startDetachedThread { self.serve() }
        if r != 0 { logger.error("cannot start the metrics thread (\(Errno(r))): no metrics at \(endpoint)") }
    }

    public func stop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        if case .unix(let path) = endpoint, let made = socketFile {
            var st = stat()
            if lstat(path, &st) == 0 && UInt64(st.st_dev) == made.dev && UInt64(st.st_ino) == made.ino { unlink(path) }
        }
    }

    func serve() {
        while !stopped.load(ordering: .acquiring) {
            let c = tdefs_accept_cloexec(listenFD)
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                    if errno == EMFILE || errno == ENFILE { usleep(100_000) }
                    continue
                }
                break
            }
            handle(c)
            close(c)
        }
        close(listenFD)
    }

    func handle(_ c: Int32) {
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        tv.tv_sec = time_t(Self.requestTimeoutSeconds)
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let deadline = tdefs_monotonic_ns() + UInt64(Self.requestTimeoutSeconds) * 1_000_000_000
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        var outcome = HTTPRequestHead.Outcome.incomplete
        while outcome == .incomplete && tdefs_monotonic_ns() < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            if n <= 0 { break }
            received += chunk[0..<n]
            outcome = HTTPRequestHead.parse(received)
        }
        if outcome == .incomplete {
            // Closed, timed out or silent: answer only a client that sent something.
            if received.isEmpty { return }
            outcome = .malformed("incomplete request head")
        }
        if case .malformed(let why) = outcome { logger.debug("metrics: bad request (\(why))") }
        let answer = Self.response(to: outcome, body: body)
        var sent = 0
        while sent < answer.count {
            let n = answer.withUnsafeBytes { send(c, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            sent += n
        }
        shutdown(c, Int32(SHUT_WR))
    }

    /// The whole answer to a request head: status line, fields, and for GET the body.
    public static func response(to outcome: HTTPRequestHead.Outcome, body: () -> [UInt8]) -> [UInt8] {
        switch outcome {
        case .incomplete, .malformed:
            return answer(400, "Bad Request", "bad request\n")
        case .tooLarge:
            return answer(431, "Request Header Fields Too Large", "request head too large\n")
        case .complete(let head):
            guard head.method == "GET" || head.method == "HEAD" else {
                return answer(405, "Method Not Allowed", "only GET and HEAD\n", extra: "Allow: GET, HEAD\r\n")
            }
            guard head.path == "/metrics" else { return answer(404, "Not Found", "the metrics are at /metrics\n") }
            let text = body()
            return answer(200, "OK", text, contentType: "text/plain; version=0.0.4; charset=utf-8",
                          includeBody: head.method == "GET")
        }
    }

    static func answer(_ code: Int, _ reason: String, _ text: String, extra: String = "") -> [UInt8] {
        answer(code, reason, Array(text.utf8), contentType: "text/plain; charset=utf-8", extra: extra)
    }

    static func answer(_ code: Int, _ reason: String, _ body: [UInt8], contentType: String, extra: String = "",
                       includeBody: Bool = true) -> [UInt8] {
        let head = "HTTP/1.0 \(code) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
            + extra + "Connection: close\r\n\r\n"
        return Array(head.utf8) + (includeBody ? body : [])
    }

    // MARK: Listening

    static func listenUnix(_ path: String) throws(MetricsServerError) -> (Int32, (dev: UInt64, ino: UInt64)) {
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if parent == ControlSocketPath.directory && mkdir(parent, 0o700) != 0 && errno != EEXIST {
            throw MetricsServerError("cannot create \(parent): \(Errno.current)")
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                throw MetricsServerError("\(path) exists and is not a socket; choose another metrics path")
            }
            if canConnect(path) { throw MetricsServerError("another process serves \(path)") }
            unlink(path)  // left behind by a daemon that is gone
        }
        guard var addr = UnixSocket.address(path) else { throw MetricsServerError("\(path) is too long for a socket") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MetricsServerError("cannot make a socket: \(Errno.current)") }
        // 0600: the scraper runs as root (or as the daemon's user).
        let old = umask(0o177)
        let r = UnixSocket.withSocketAddress(&addr) { bind(fd, $0, $1) }
        umask(old)
        guard r == 0, listen(fd, 16) == 0, lstat(path, &st) == 0 else {
            let e = Errno.current
            close(fd)
            throw MetricsServerError("cannot listen on \(path): \(e)")
        }
        return (fd, (UInt64(st.st_dev), UInt64(st.st_ino)))
    }

    static func canConnect(_ path: String) -> Bool {
        guard let fd = UnixSocket.connect(path) else { return false }
        close(fd)
        return true
    }

    static func listenTCP(_ address: String, _ port: UInt16, ipv6: Bool) throws(MetricsServerError) -> Int32 {
        let family = ipv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MetricsServerError("cannot make a socket: \(Errno.current)") }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let r: Int32
        if ipv6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size))
            var a = sockaddr_in6()
            (a.sin6_family, a.sin6_port) = (sa_family_t(AF_INET6), port.bigEndian)
            _ = inet_pton(AF_INET6, address, &a.sin6_addr)
            r = UnixSocket.withSocketAddress(&a) { bind(fd, $0, $1) }
        } else {
            var a = sockaddr_in()
            (a.sin_family, a.sin_port) = (sa_family_t(AF_INET), port.bigEndian)
            _ = inet_pton(AF_INET, address, &a.sin_addr)
            r = UnixSocket.withSocketAddress(&a) { bind(fd, $0, $1) }
        }
        let shown = MetricsEndpoint.tcp(address: address, port: port, ipv6: ipv6)
        guard r == 0, listen(fd, 16) == 0 else {
            let e = errno
            close(fd)
            throw MetricsServerError(e == EADDRINUSE ? "\(shown) is already in use" : "cannot listen on \(shown): \(Errno(e))")
        }
        return fd
    }
}

public struct MetricsServerError: Error, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
