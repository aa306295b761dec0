import FuzzSupport
import TDEFSCore

/// Long names, as the engine reads them (FileSystem.plaintextName): a backing entry
/// tdefs.long.<hash> and the content of its side file tdefs.long.<hash>.name. The input is
/// "backing name" NUL "side file content"; without a NUL, the whole input is the side file's
/// content and the backing name is the one it hashes to (so that decryption is reached).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    let backing: String
    let stored: [UInt8]
    if let nul = bytes.firstIndex(of: 0) {
        backing = String(decoding: bytes[..<nul], as: UTF8.self)
        stored = Array(bytes[(nul + 1)...])
    } else {
        stored = bytes
        backing = NameCodec.backingName(forEncrypted: String(decoding: stored, as: UTF8.self)).name
    }
    _ = plaintextName(backing: backing, stored: stored)
    return 0
}

/// The engine's long-name branch, step by step, with the same public calls.
func plaintextName(backing: String, stored: [UInt8]) -> [UInt8]? {
    switch NameCodec.classify(backing) {
    case .long:
        let encrypted = String(decoding: stored, as: UTF8.self)
        guard NameCodec.longNameMatches(backingName: backing, encrypted: encrypted) else { return nil }
        fuzzCheck(encrypted.utf8.count > NameCodec.maxBackingNameBytes, "a short encrypted name matched a long entry")
        _ = NameCodec.sideFileName(forLong: backing)
        let plain = NameCodec.decrypt(encrypted, iv: FuzzKeys.directoryIV, key: FuzzKeys.epoch1.nameCipher)
        if let plain { fuzzCheck((try? NameCodec.validate(plain)) != nil, "invalid plaintext name") }
        return plain
    case .encrypted:
        return NameCodec.decrypt(backing, iv: FuzzKeys.directoryIV, key: FuzzKeys.epoch1.nameCipher)
    case .symlinkTargetFile:
        fuzzCheck(SymlinkCodec.isSideFileName(backing.utf8), "a symlink target file's name was misclassified")
        return nil
    case .longSideFile, .reserved:
        return nil
    }
}

runFuzzer { fuzz($0, $1) }
