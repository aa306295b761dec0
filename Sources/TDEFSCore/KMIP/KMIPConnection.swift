import COpenSSLTLS
import Glibc

/// One mutual-TLS connection to a KMIP server through OpenSSL (TLS 1.2 or newer, the server's
/// certificate checked against the given CA and the host name or IP address it was reached by),
/// carrying one request and its response at a time. Every failure is a KMIPError.transport with
/// OpenSSL's or the socket's reason; nothing of a message is ever in it. After a failure the
/// connection is broken for good: a late answer to one request is never read as another's.
public final class KMIPConnection {
    public struct Credentials: Sendable {
        public var clientCertificate: String
        public var clientKey: String
        public var caCertificates: String
        public init(clientCertificate: String, clientKey: String, caCertificates: String) {
            self.clientCertificate = clientCertificate; self.clientKey = clientKey; self.caCertificates = caCertificates
        }
    }

    /// "HOST:PORT" or "[IPv6]:PORT"; nil when malformed.
    public static func parseEndpoint(_ text: String) -> (host: String, port: UInt16)? {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let p = UInt16(port), p > 0 else { return nil }
        return (String(host), p)
    }

    let context: OpaquePointer
    let ssl: OpaquePointer
    let socketFD: Int32
    /// A write or read failed (or timed out): no further round trip, and no TLS close_notify.
    var broken = false

    /// Connects and completes the TLS handshake, each step bounded by `timeoutSeconds`.
    public init(host: String, port: UInt16, credentials: Credentials, timeoutSeconds: Int = 10) throws(KMIPError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw Self.failure("SSL_CTX_new") }
        var ok = false
        defer { if !ok { SSL_CTX_free(ctx) } }
        guard tdefs_ssl_ctx_min_tls12(ctx) == 1 else { throw Self.failure("TLS 1.2 as the minimum") }
        tdefs_ssl_ctx_no_password_prompt(ctx)
        tdefs_ssl_ctx_cleanse_plaintext(ctx)
        // This host's files: a problem with them is not the server's, and retrying does not help.
        guard SSL_CTX_load_verify_locations(ctx, credentials.caCertificates, nil) == 1 else {
            throw Self.localFailure("the CA certificates \(credentials.caCertificates)")
        }
        guard SSL_CTX_use_certificate_chain_file(ctx, credentials.clientCertificate) == 1 else {
            throw Self.localFailure("the client certificate \(credentials.clientCertificate)")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, credentials.clientKey, SSL_FILETYPE_PEM) == 1,
              SSL_CTX_check_private_key(ctx) == 1 else {
            throw Self.localFailure("the client key \(credentials.clientKey) (or it does not match the certificate)")
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        let fd = try Self.connect(host: host, port: port, timeoutSeconds: timeoutSeconds)
        defer { if !ok { close(fd) } }
        guard let s = SSL_new(ctx) else { throw Self.failure("SSL_new") }
        defer { if !ok { SSL_free(s) } }
        guard SSL_set_fd(s, fd) == 1, tdefs_ssl_expect_peer(s, host) == 1 else { throw Self.failure("expecting \(host)") }
        guard SSL_connect(s) == 1 else {
            let verify = SSL_get_verify_result(s)
            if verify != X509_V_OK {
                throw .transport("the TLS handshake with \(host):\(port) failed: the server's certificate does not verify ("
                    + String(cString: X509_verify_cert_error_string(verify)) + ")")
            }
            throw Self.withAlertHint(Self.failure("the TLS handshake with \(host):\(port)"))
        }
        context = ctx
        ssl = s
        socketFD = fd
        ok = true
    }

    deinit {
        if !broken { SSL_shutdown(ssl) }
        SSL_free(ssl)
        SSL_CTX_free(context)
        close(socketFD)
    }

    /// Sends `request` and reads the one response message to it.
    public func roundTrip(_ request: TTLV) throws(KMIPError) -> TTLV {
        guard !broken else { throw .transport("the connection to the key server broke earlier") }
        do throws(KMIPError) {
            var bytes = request.encoded()
            defer { bytes.withUnsafeMutableBytes { tdefs_zero($0) } }
            try write(bytes)
            // One buffer for the whole response (the header first), zeroed when done.
            var response = [UInt8](repeating: 0, count: 8)
            defer { response.withUnsafeMutableBytes { tdefs_zero($0) } }
            try read(into: &response, from: 0)
            guard let total = TTLV.itemLength(header: response, limit: KMIPMessage.maxResponseBytes) else {
                throw .malformed("a response longer than \(KMIPMessage.maxResponseBytes) bytes")
            }
            var whole = [UInt8](repeating: 0, count: total)
            defer { whole.withUnsafeMutableBytes { tdefs_zero($0) } }
            whole.replaceSubrange(0..<8, with: response)
            try read(into: &whole, from: 8)
            do {
                return try TTLV.decode(whole)
            } catch {
                throw .malformed("TTLV: \(error)")
            }
        } catch {
            broken = true
            throw error
        }
    }

    func write(_ bytes: [UInt8]) throws(KMIPError) {
        ERR_clear_error()
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + done, Int32(bytes.count - done)) }
            guard n > 0 else { throw Self.failure("sending to the key server") }
            done += Int(n)
        }
    }

    /// Fills `buffer` from `offset` to its end.
    func read(into buffer: inout [UInt8], from offset: Int) throws(KMIPError) {
        ERR_clear_error()
        var done = offset
        while done < buffer.count {
            let want = buffer.count - done
            let n = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress! + done, Int32(want)) }
            // Under TLS 1.3 a server that refuses the client certificate says so after the
            // handshake: its alert arrives here.
            guard n > 0 else { throw Self.withAlertHint(Self.failure("reading from the key server (it closed the connection, or timed out)")) }
            done += Int(n)
        }
    }

    static func connect(host: String, port: UInt16, timeoutSeconds: Int) throws(KMIPError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let r = getaddrinfo(host, String(port), &hints, &list)
        guard r == 0, let first = list else { throw .transport("cannot resolve \(host): \(String(cString: gai_strerror(r)))") }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = 0
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry {
            entry = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if fd < 0 { lastError = errno; continue }
            var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
            lastError = errno
            close(fd)
        }
        throw .transport("cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    /// A TLS alert from the server: it ended the session, most often over tdefs' certificate.
    static func withAlertHint(_ failure: KMIPError) -> KMIPError {
        guard case .transport(let why) = failure, why.contains("alert") else { return failure }
        return .transport(why + " (the server ended the TLS session: does it trust the client certificate?)")
    }

    /// A file of this host (CA, client certificate or key) that OpenSSL cannot use.
    static func localFailure(_ what: String) -> KMIPError {
        guard case .transport(let why) = failure(what) else { return .localFiles(what) }
        return .localFiles(why)
    }

    /// A transport failure naming the step, with OpenSSL's first queued error.
    static func failure(_ step: String) -> KMIPError {
        var buf = [CChar](repeating: 0, count: 256)
        tdefs_ssl_error_text(&buf, buf.count)
        let reason = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return .transport(reason.isEmpty ? step : "\(step): \(reason)")
    }
}
