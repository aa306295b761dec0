/// The head of an HTTP/1.x request, as far as the metrics responder needs it: the method and the
/// path of the request line. Header fields are checked for shape and otherwise ignored; a body is
/// never read. Anything that is not a well-formed head is refused: never a crash, never a guess.
public struct HTTPRequestHead: Equatable, Sendable {
    public var method: String
    /// The path of an origin-form target ("/metrics" for "/metrics?x=1").
    public var path: String
    public var minorVersion: Int

    /// Heads longer than this are refused (431).
    public static let maxBytes = 8192

    public enum Outcome: Equatable, Sendable {
        case complete(HTTPRequestHead)
        /// No end of the head yet ("\r\n\r\n", or "\n\n" from lenient clients).
        case incomplete
        case malformed(String)
        case tooLarge
    }

    /// Parses the bytes received so far.
    public static func parse(_ bytes: [UInt8]) -> Outcome {
        guard let end = endOfHead(bytes) else {
            return bytes.count > maxBytes ? .tooLarge : .incomplete
        }
        if end > maxBytes { return .tooLarge }
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for i in 0..<end where bytes[i] == 0x0A {
            var line = bytes[start..<i]
            if line.last == 0x0D { line = line.dropLast() }
            lines.append(line)
            start = i + 1
        }
        if start < end {
            var line = bytes[start..<end]
            if line.last == 0x0D { line = line.dropLast() }
            lines.append(line)
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let requestLine = lines.first, !requestLine.isEmpty else { return .malformed("empty request line") }
        let head: HTTPRequestHead
        switch parseRequestLine(requestLine) {
        case .success(let h): head = h
        case .failure(let why): return .malformed(why.reason)
        }
        for field in lines.dropFirst() {
            if let why = fieldProblem(field) { return .malformed(why) }
        }
        return .complete(head)
    }

    /// Index just past the blank line that ends the head, if it has arrived.
    static func endOfHead(_ b: [UInt8]) -> Int? {
        var i = 0
        while i < b.count {
            if b[i] == 0x0A {
                if i + 1 < b.count && b[i + 1] == 0x0A { return i + 2 }
                if i + 2 < b.count && b[i + 1] == 0x0D && b[i + 2] == 0x0A { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    struct Problem: Error { let reason: String }

    /// METHOD SP request-target SP HTTP/1.x, with single spaces (RFC 9112 section 3).
    static func parseRequestLine(_ line: ArraySlice<UInt8>) -> Result<HTTPRequestHead, Problem> {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(Problem(reason: "the request line is not METHOD TARGET VERSION")) }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.count <= 16, method.allSatisfy(isTokenByte) else {
            return .failure(Problem(reason: "bad method"))
        }
        guard target.first == UInt8(ascii: "/"), target.count <= 2048,
              target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(Problem(reason: "bad request target (only /path forms are served)"))
        }
        let v = Array(version)
        guard v.count == 8, Array(v[0..<7]) == Array("HTTP/1.".utf8), v[7] == UInt8(ascii: "0") || v[7] == UInt8(ascii: "1") else {
            return .failure(Problem(reason: "not HTTP/1.0 or HTTP/1.1"))
        }
        let path = target.prefix { $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }
        return .success(HTTPRequestHead(method: String(decoding: method, as: UTF8.self),
                                        path: String(decoding: path, as: UTF8.self),
                                        minorVersion: Int(v[7] - UInt8(ascii: "0"))))
    }

    /// name ":" value, the name a token, the value without control bytes (tab allowed).
    static func fieldProblem(_ field: ArraySlice<UInt8>) -> String? {
        if field.first == 0x20 || field.first == 0x09 { return "obsolete line folding in a header field" }
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return "a header field without a colon" }
        let name = field[field.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { return "a bad header field name" }
        let value = field[field.index(after: colon)...]
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else { return "a control byte in a header field" }
        return nil
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
        }
    }
}
