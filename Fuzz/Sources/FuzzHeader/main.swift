import FuzzSupport
import TDEFSCore

/// File headers: FileHeader(parsing:) never traps; an accepted header re-serialises to the same 96
/// bytes; unwrapping under the fixed keys never traps (and fails unless the seed was made with them).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    guard let header = FileHeader(parsing: raw) else { return 0 }
    fuzzCheck(header.bytes == Array(raw[0..<FileHeader.byteCount]), "header does not round-trip")
    for keys in [FuzzKeys.epoch1, FuzzKeys.epoch2] {
        if let fileKey = header.unwrap(keys: keys) {
            fuzzCheck(fileKey.count == 32, "file key of the wrong size")
            // A file key that opens also yields xattr keys without trouble.
            _ = XattrKeys.forFile(fileKey: fileKey, fileID: header.fileID, size: header.size)
        }
    }
    return 0
}

runFuzzer { fuzz($0, $1) }
