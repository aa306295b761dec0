import Glibc

/// Where a daemon serves its metrics (`tdefs mount -o metrics=VALUE`): a Unix socket, or a port on
/// a loopback address. Nothing else: the metrics are for this machine (a local Prometheus, or the
/// node exporter's textfile collector), not for the network.
///
///     /run/tdefs/pg.metrics   unix:/run/tdefs/pg.metrics   (a socket made by the daemon, mode 0600)
///     127.0.0.1:9470          [::1]:9470                   (any 127.0.0.0/8 address, or ::1)
public enum MetricsEndpoint: Equatable, Sendable, CustomStringConvertible {
    case unix(path: String)
    /// `address` is the literal as given (dotted quad, or an IPv6 literal without brackets).
    case tcp(address: String, port: UInt16, ipv6: Bool)

    /// Longest Unix socket path (sun_path holds 108 bytes with the terminating NUL).
    public static let maxPathBytes = 107

    /// The endpoint, or why `value` is not one (for a usage error).
    public static func parse(_ value: String) -> Result<MetricsEndpoint, MetricsEndpointError> {
        if value.isEmpty { return .failure(.init("no socket path or address given")) }
        if value.utf8.contains(0) { return .failure(.init("contains a NUL byte")) }
        var path = Substring(value)
        if path.hasPrefix("unix:") { path = path.dropFirst(5) }
        if path.hasPrefix("/") { return unixPath(String(path)) }
        if value.hasPrefix("unix:") { return .failure(.init("a Unix socket path must be absolute")) }
        return loopback(value)
    }

    private static func unixPath(_ path: String) -> Result<MetricsEndpoint, MetricsEndpointError> {
        if path.utf8.count > maxPathBytes {
            return .failure(.init("the socket path is longer than \(maxPathBytes) bytes"))
        }
        if path.hasSuffix("/") { return .failure(.init("the socket path names a directory")) }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains(".") || parts.contains("..") {
            return .failure(.init("the socket path must not contain . or .. components"))
        }
        return .success(.unix(path: path))
    }

    private static func loopback(_ value: String) -> Result<MetricsEndpoint, MetricsEndpointError> {
        let host: Substring, portText: Substring
        let ipv6: Bool
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return .failure(.init("an IPv6 address needs its closing ]")) }
            host = value[value.index(after: value.startIndex)..<close]
            let rest = value[value.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.init("no port after the address (write [::1]:PORT)")) }
            portText = rest.dropFirst()
            ipv6 = true
        } else {
            guard let colon = value.lastIndex(of: ":") else {
                return .failure(.init("neither an absolute socket path nor ADDRESS:PORT"))
            }
            host = value[..<colon]
            portText = value[value.index(after: colon)...]
            if host.contains(":") { return .failure(.init("write an IPv6 address in brackets: [::1]:PORT")) }
            ipv6 = false
        }
        guard !portText.isEmpty, portText.utf8.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let port = UInt32(portText), port >= 1, port <= 65535 else {
            return .failure(.init("the port must be a number from 1 to 65535"))
        }
        let address = String(host)
        guard isLoopback(address, ipv6: ipv6) else {
            return .failure(.init("\(address.isEmpty ? "no address" : address) is not a loopback address: "
                + "use 127.0.0.1 (or another 127.x.y.z), [::1], or a Unix socket path"))
        }
        return .success(.tcp(address: address, port: UInt16(port), ipv6: ipv6))
    }

    /// Only numeric literals: a host name could resolve to anything.
    static func isLoopback(_ address: String, ipv6: Bool) -> Bool {
        if ipv6 {
            var a = in6_addr()
            guard inet_pton(AF_INET6, address, &a) == 1 else { return false }
            return withUnsafeBytes(of: &a) { b in b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1 }
        }
        // inet_pton takes exactly four decimal parts (no octal, no shorthand).
        var a = in_addr()
        guard inet_pton(AF_INET, address, &a) == 1 else { return false }
        return withUnsafeBytes(of: &a) { $0[0] == 127 }
    }

    public var description: String {
        switch self {
        case .unix(let path): return path
        case .tcp(let address, let port, let ipv6): return ipv6 ? "[\(address)]:\(port)" : "\(address):\(port)"
        }
    }
}

public struct MetricsEndpointError: Error, Equatable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
