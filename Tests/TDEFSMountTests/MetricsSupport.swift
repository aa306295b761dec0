import XCTest
import TDEFSTestSupport
import Foundation
import Glibc
import TDEFSCore

/// A raw HTTP client for the metrics endpoint (a Unix socket or a loopback port): sends bytes as
/// given, reads until the server closes.
enum HTTPProbe {
    struct Answer {
        var status: Int?
        var head: String
        var body: String
    }

    static func get(unix path: String, _ request: String = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n") -> Answer? {
        exchange(unix: path, Array(request.utf8))
    }

    static func get(port: UInt16, path: String = "/metrics") -> Answer? {
        // HTTP/1.0, so that a server of HTTP/1.1 (the node exporter's, Prometheus's) answers with a
        // plain body, never a chunked one, which this reader does not decode.
        exchange(port: port, Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
    }

    static func exchange(unix path: String, _ request: [UInt8], closeAfterSending: Bool = false) -> Answer? {
        guard let fd = UnixSocket.connect(path) else { return nil }
        defer { close(fd) }
        return talk(fd, request, closeAfterSending: closeAfterSending)
    }

    static func exchange(port: UInt16, _ request: [UInt8]) -> Answer? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else { return nil }
        return talk(fd, request, closeAfterSending: false)
    }

    private static func talk(_ fd: Int32, _ request: [UInt8], closeAfterSending: Bool) -> Answer {
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        if closeAfterSending { shutdown(fd, Int32(SHUT_WR)) }
        var got: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            got += chunk[0..<n]
        }
        let text = String(decoding: got, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return Answer(status: nil, head: text, body: "") }
        let head = String(text[..<split.lowerBound])
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        return Answer(status: status, head: head, body: String(text[split.upperBound...]))
    }
}

/// One scrape: "name{labels}" -> value for every sample line.
struct Scrape {
    let text: String
    let values: [String: Double]

    init(_ text: String) {
        self.text = text
        var v: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            v[String(line[..<space])] = value
        }
        values = v
    }

    subscript(_ key: String) -> Double? { values[key] }

    /// Sum of every sample of `name` whose labels include all of `labels` (as `k="v"` strings).
    func sum(_ name: String, _ labels: [String] = []) -> Double {
        values.filter { key, _ in
            (key == name || key.hasPrefix(name + "{")) && labels.allSatisfy { key.contains($0) }
        }.values.reduce(0, +)
    }

    static func of(unix path: String) throws -> Scrape {
        guard let a = HTTPProbe.get(unix: path), a.status == 200 else { throw HarnessError("no scrape from \(path)") }
        return Scrape(a.body)
    }

    static func of(port: UInt16, path: String = "/metrics") throws -> Scrape {
        guard let a = HTTPProbe.get(port: port, path: path), a.status == 200 else { throw HarnessError("no scrape from 127.0.0.1:\(port)") }
        return Scrape(a.body)
    }
}

/// A loopback port nobody listens on now (the kernel picks it).
/// Polls `condition` (every 50 ms, for at most `attempts` tries): for what the kernel does after a
/// call returns (a RELEASE after close). Nothing is timed; the bound only keeps a broken daemon
/// from hanging the suite.
func eventually(attempts: Int = 400, _ condition: () throws -> Bool) rethrows -> Bool {
    for _ in 0..<attempts {
        if try condition() { return true }
        usleep(50_000)
    }
    return false
}
