import FuzzSupport
import TDEFSCore

/// The metrics endpoint's parsers: HTTPRequestHead.parse (what a client sends) and
/// MetricsEndpoint.parse (`-o metrics=`) never trap; a complete head has an origin-form path and
/// gets an answer; an accepted endpoint prints as a value that parses back to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    let outcome = HTTPRequestHead.parse(bytes)
    if case .complete(let head) = outcome {
        fuzzCheck(head.path.hasPrefix("/"), "a complete head without an origin-form path")
    }
    let answer = MetricsServer.response(to: outcome) { [] }
    fuzzCheck(answer.starts(with: Array("HTTP/1.0 ".utf8)), "an answer without a status line")
    if let endpoint = try? MetricsEndpoint.parse(String(decoding: bytes, as: UTF8.self)).get() {
        fuzzCheck((try? MetricsEndpoint.parse(endpoint.description).get()) == endpoint, "endpoint does not round-trip")
    }
    return 0
}

runFuzzer { fuzz($0, $1) }
