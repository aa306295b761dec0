import FuzzSupport
import TDEFSCore

/// Control-socket messages (one JSON object per line): ControlRequest.parse and ControlReply.parse
/// never trap; an accepted request re-encodes and parses back to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    if let request = ControlRequest.parse(bytes) {
        var line = request.encoded()
        fuzzCheck(line.last == 0x0A, "request line lacks its newline")
        line.removeLast()
        fuzzCheck(ControlRequest.parse(line) == request, "request does not round-trip")
    }
    if let reply = ControlReply.parse(bytes) {
        var line = reply.encoded()
        line.removeLast()
        fuzzCheck(ControlReply.parse(line) == reply, "reply does not round-trip")
    }
    return 0
}

runFuzzer { fuzz($0, $1) }
