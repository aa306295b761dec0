import CFuzzer
import Glibc
import TDEFSCore

/// Fixed keys for the decoders: derived from constant master keys, so that every run (and every
/// seed in Fuzz/corpus) sees the same keys. Never used for anything but fuzzing.
public enum FuzzKeys {
    public static let volumeID: [UInt8] = Array(0..<16)

    /// Master key of epoch 1 (AES-256): bytes 0x01...0x20.
    public static let epoch1 = EpochKeys(epoch: 1, size: .aes256,
                                         masterKey: SecureBytes(copying: (1...32).map { UInt8($0) }),
                                         volumeID: volumeID)
    /// Master key of epoch 2 (AES-192): bytes 0x41...0x60.
    public static let epoch2 = EpochKeys(epoch: 2, size: .aes192,
                                         masterKey: SecureBytes(copying: (0x41...0x60).map { UInt8($0) }),
                                         volumeID: volumeID)

    public static let keyring = Keyring(volumeID: volumeID, currentEpoch: 1, epochs: [epoch1, epoch2])

    /// The directory IV used by name seeds: 0xA0...0xAF.
    public static let directoryIV: [UInt8] = (0xA0...0xAF).map { UInt8($0) }
}

/// Stops the run with a message when a parser breaks one of its own invariants (libFuzzer
/// records the input as a crash).
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #file, line: UInt = #line) {
    if !condition() { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
}

/// The input as a byte array.
public func fuzzBytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// Runs libFuzzer's driver with the process's arguments and exits with its status.
public func runFuzzer(_ body: @escaping (UnsafePointer<UInt8>, Int) -> CInt) -> Never {
    FuzzCallback.body = body
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        // libFuzzer passes a valid pointer even for an empty input; be safe anyway.
        var empty: UInt8 = 0
        guard let data else { return withUnsafePointer(to: &empty) { FuzzCallback.body!($0, 0) } }
        return FuzzCallback.body!(data, size)
    }
    exit(status)
}

enum FuzzCallback {
    // Set once before the driver starts; libFuzzer calls back on the main thread only.
    nonisolated(unsafe) static var body: ((UnsafePointer<UInt8>, Int) -> CInt)?
}
