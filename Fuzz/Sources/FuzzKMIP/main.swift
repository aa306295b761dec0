import FuzzSupport
import TDEFSCore

/// KMIP TTLV (a key server's answers): TTLV.decode never traps, what it accepts re-encodes to the
/// same bytes (the encoding is strict, so canonical), and the length read from the first 8 bytes
/// is the item's.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    _ = TTLV.itemLength(header: bytes, limit: 1 << 20)
    if let item = try? TTLV.decode(bytes) {
        fuzzCheck(item.encoded() == bytes, "TTLV does not round-trip")
        fuzzCheck(TTLV.itemLength(header: Array(bytes.prefix(8)), limit: Int.max) == bytes.count, "item length is not the decoded length")
    }
    return 0
}

runFuzzer { fuzz($0, $1) }
