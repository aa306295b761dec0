import FuzzSupport
import TDEFSCore

/// tdefs.conf: VolumeConfig.parse never traps; what it accepts passes its own checks and survives
/// a round trip through encoded().
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let config = try? VolumeConfig.parse(bytes, path: "fuzz") else { return 0 }
    fuzzCheck(config.problem() == nil, "parse accepted a config with a problem")
    let again = try? VolumeConfig.parse(config.encoded(), path: "fuzz")
    fuzzCheck(again == config, "encoded() of a parsed config does not parse back to the same config")
    _ = config.cipher
    _ = config.json.render()
    return 0
}

runFuzzer { fuzz($0, $1) }
