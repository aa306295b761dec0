import FuzzSupport
import TDEFSCore

/// tdefs.diriv: DirectoryIV(parsing:) never traps and what it accepts round-trips.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    if let iv = DirectoryIV(parsing: bytes) {
        fuzzCheck(iv.bytes == bytes, "directory IV does not round-trip")
        fuzzCheck(iv.iv.count == 16, "IV of the wrong size")
    }
    return 0
}

runFuzzer { fuzz($0, $1) }
