import XCTest
@testable import TDEFSCore

/// The parsers of the metrics endpoint: `-o metrics=VALUE` and the HTTP request head, with the
/// answers the responder gives. Malformed input is refused, never trapped on.
final class MetricsParsingTests: XCTestCase {
    func endpoint(_ s: String) -> MetricsEndpoint? { try? MetricsEndpoint.parse(s).get() }

    func reason(_ s: String) -> String {
        if case .failure(let e) = MetricsEndpoint.parse(s) { return e.reason }
        return "accepted"
    }

    func testEndpointsAccepted() {
        XCTAssertEqual(endpoint("/run/tdefs/pg.metrics"), .unix(path: "/run/tdefs/pg.metrics"))
        XCTAssertEqual(endpoint("unix:/run/tdefs/pg.metrics"), .unix(path: "/run/tdefs/pg.metrics"))
        XCTAssertEqual(endpoint("127.0.0.1:9470"), .tcp(address: "127.0.0.1", port: 9470, ipv6: false))
        XCTAssertEqual(endpoint("127.45.0.9:1"), .tcp(address: "127.45.0.9", port: 1, ipv6: false))
        XCTAssertEqual(endpoint("[::1]:65535"), .tcp(address: "::1", port: 65535, ipv6: true))
        XCTAssertEqual(endpoint("[0:0:0:0:0:0:0:1]:80"), .tcp(address: "0:0:0:0:0:0:0:1", port: 80, ipv6: true))
        XCTAssertEqual(endpoint("/" + String(repeating: "a", count: 106))?.description.utf8.count, 107)
        XCTAssertEqual(endpoint("[::1]:9470")?.description, "[::1]:9470")
        XCTAssertEqual(endpoint("127.0.0.1:9470")?.description, "127.0.0.1:9470")
    }

    func testEndpointsRefused() {
        let refused = [
            "", "unix:", "unix:relative.sock", "relative.sock", "run/x.sock", "/run/", "/run/../x", "/./x",
            "/" + String(repeating: "a", count: 107), "/with\u{0}nul",
            "0.0.0.0:9470", "10.0.0.1:9470", "192.168.1.10:80", "128.0.0.1:80", "localhost:9470", "example.org:80",
            "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:+80",
            "127.0.0.1:-1", "127.0.0.1:80x", "127.0.0.1: 80", "127.0.0.1:123456", "127.1:80", "127.000.0.1:80",
            "127.0.0.1.5:80", "0x7f.0.0.1:80", " 127.0.0.1:80",
            "[::1]", "[::1]9470", "[::1:9470", "[::2]:80", "[::]:80", "[::ffff:127.0.0.1]:80", "::1:9470", "[]:80",
            "[127.0.0.1]:80", ":9470",
        ]
        for value in refused {
            XCTAssertNil(endpoint(value), "\(value.debugDescription) must be refused")
        }
        XCTAssertTrue(reason("0.0.0.0:9470").contains("not a loopback address"), reason("0.0.0.0:9470"))
        XCTAssertTrue(reason("localhost:9470").contains("not a loopback address"), reason("localhost:9470"))
        XCTAssertTrue(reason("127.0.0.1:0").contains("1 to 65535"), reason("127.0.0.1:0"))
        XCTAssertTrue(reason("unix:x").contains("absolute"), reason("unix:x"))
    }

    // MARK: HTTP

    func head(_ s: String) -> HTTPRequestHead.Outcome { HTTPRequestHead.parse(Array(s.utf8)) }

    func testWellFormedHeads() {
        XCTAssertEqual(head("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n"),
                       .complete(HTTPRequestHead(method: "GET", path: "/metrics", minorVersion: 1)))
        XCTAssertEqual(head("GET /metrics HTTP/1.0\r\n\r\n"), .complete(HTTPRequestHead(method: "GET", path: "/metrics", minorVersion: 0)))
        XCTAssertEqual(head("HEAD /metrics?x=1&y HTTP/1.1\n\n"), .complete(HTTPRequestHead(method: "HEAD", path: "/metrics", minorVersion: 1)))
        XCTAssertEqual(head("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), .complete(HTTPRequestHead(method: "POST", path: "/", minorVersion: 1)))
        XCTAssertEqual(head("GET /metrics HTTP/1.1\r\nX-Empty:\r\nX-Tab:\ta\tb\r\nX-High: \u{e9}\r\n\r\n"),
                       .complete(HTTPRequestHead(method: "GET", path: "/metrics", minorVersion: 1)))
    }

    func testIncompleteAndOversizedHeads() {
        XCTAssertEqual(head(""), .incomplete)
        XCTAssertEqual(head("GET /metrics HTTP/1.1\r\nHost: x\r\n"), .incomplete)
        XCTAssertEqual(head("GET /metrics HTTP/1.1\r\n\r"), .incomplete)
        XCTAssertEqual(head("GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000)), .tooLarge)
        XCTAssertEqual(head("GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000) + "\r\n\r\n"), .tooLarge)
    }

    func testMalformedHeads() {
        let malformed = [
            "\r\n\r\n", "\n\n", "\r\nGET /metrics HTTP/1.1\r\n\r\n",
            "GET /metrics\r\n\r\n", "GET\r\n\r\n", "GET /metrics HTTP/1.1 extra\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics  HTTP/1.1\r\n\r\n", " GET /metrics HTTP/1.1\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n", "GET http://localhost/metrics HTTP/1.1\r\n\r\n", "GET * HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/2.0\r\n\r\n", "GET /metrics HTTP/1.10\r\n\r\n", "GET /metrics http/1.1\r\n\r\n",
            "GET /metrics HTTP/1.2\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "G@T /metrics HTTP/1.1\r\n\r\n", "GET /me\u{1}trics HTTP/1.1\r\n\r\n", "GET /m\u{e9} HTTP/1.1\r\n\r\n",
            "TOOLONGMETHODNAMEXX /metrics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET /metrics HTTP/1.1\r\n: no name\r\n\r\n", "GET /metrics HTTP/1.1\r\nX: a\u{0}b\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nX: a\u{7f}b\r\n\r\n", "GET /metrics HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            "GET /" + String(repeating: "a", count: 3000) + " HTTP/1.1\r\n\r\n",
        ]
        for s in malformed {
            guard case .malformed = head(s) else {
                XCTFail("\(s.prefix(60).debugDescription) must be malformed, got \(head(s))")
                continue
            }
        }
        guard case .malformed = HTTPRequestHead.parse([0xFF, 0xFE, 0x00, 0x0A, 0x0A]) else { return XCTFail("binary is malformed") }
    }

    /// Random bytes and random mutations of a good head: always an outcome, never a trap.
    func testRandomInputNeverTraps() {
        var rng = SystemRandomNumberGenerator()
        let good = Array("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0..<80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if round % 4 == 0 { bytes += [0x0D, 0x0A, 0x0D, 0x0A] }
            } else {
                bytes = good
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            switch HTTPRequestHead.parse(bytes) {
            case .complete(let h):
                XCTAssertTrue(h.path.hasPrefix("/"))
                XCTAssertTrue(h.minorVersion == 0 || h.minorVersion == 1)
            case .incomplete, .malformed, .tooLarge:
                break
            }
        }
    }

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testAnswers() {
        let body = Array("tdefs_mounted 1\n".utf8)
        let ok = text(MetricsServer.response(to: head("GET /metrics HTTP/1.1\r\n\r\n")) { body })
        XCTAssertTrue(ok.hasPrefix("HTTP/1.0 200 OK\r\n"), ok)
        XCTAssertTrue(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), ok)
        XCTAssertTrue(ok.contains("Content-Length: \(body.count)\r\n"), ok)
        XCTAssertTrue(ok.contains("Connection: close\r\n"), ok)
        XCTAssertTrue(ok.hasSuffix("\r\n\r\ntdefs_mounted 1\n"), ok)

        let headOnly = text(MetricsServer.response(to: head("HEAD /metrics HTTP/1.1\r\n\r\n")) { body })
        XCTAssertTrue(headOnly.hasPrefix("HTTP/1.0 200 OK\r\n"))
        XCTAssertTrue(headOnly.contains("Content-Length: \(body.count)\r\n"))
        XCTAssertTrue(headOnly.hasSuffix("\r\n\r\n"), "no body for HEAD")

        var called = false
        let notFound = text(MetricsServer.response(to: head("GET / HTTP/1.1\r\n\r\n")) { called = true; return body })
        XCTAssertTrue(notFound.hasPrefix("HTTP/1.0 404 Not Found\r\n"), notFound)
        let post = text(MetricsServer.response(to: head("POST /metrics HTTP/1.1\r\n\r\n")) { called = true; return body })
        XCTAssertTrue(post.hasPrefix("HTTP/1.0 405 Method Not Allowed\r\n"), post)
        XCTAssertTrue(post.contains("Allow: GET, HEAD\r\n"), post)
        let bad = text(MetricsServer.response(to: head("GET metrics\r\n\r\n")) { called = true; return body })
        XCTAssertTrue(bad.hasPrefix("HTTP/1.0 400 Bad Request\r\n"), bad)
        let large = text(MetricsServer.response(to: .tooLarge) { called = true; return body })
        XCTAssertTrue(large.hasPrefix("HTTP/1.0 431 "), large)
        XCTAssertFalse(called, "only GET/HEAD /metrics makes the metrics text")
    }
}
