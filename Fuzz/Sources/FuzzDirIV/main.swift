import FuzzSupport
import TDEFSCore

/// tdefs.diriv: DirectoryIV(parsing:) never traps, what it accepts round-trips, and checking its
/// tag (isAcceptable) never traps either; a changed byte never authenticates.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    if let iv = DirectoryIV(parsing: bytes) {
        fuzzCheck(iv.bytes == bytes, "directory IV does not round-trip")
        fuzzCheck(iv.iv.count == 16, "IV of the wrong size")
        if iv.epoch == FuzzKeys.epoch1.epoch {
            let keys = FuzzKeys.epoch1
            if iv.isAcceptable(keys: keys, formatVersion: 3, reencryptTarget: nil) {
                fuzzCheck(iv.version == 2, "an unauthenticated IV accepted in a format 3 volume")
                var changed = iv
                changed.iv[0] ^= 1
                fuzzCheck(!changed.isAuthentic(keys: keys), "a changed IV still authenticates")
            }
        }
    }
    return 0
}

runFuzzer { fuzz($0, $1) }
