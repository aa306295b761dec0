import FuzzSupport
import TDEFSCore

/// Symlink targets and user.* xattrs as stored in the backing directory: SymlinkCodec.decrypt,
/// XattrCodec.decryptName and XattrCodec.openValue never trap on any input; a target that
/// decrypts re-encrypts and decrypts to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    if let target = SymlinkCodec.decrypt(bytes, keyring: FuzzKeys.keyring), !target.isEmpty,
       target.count <= SymlinkCodec.maxTargetBytes {
        let again = try? SymlinkCodec.encrypt(target, keys: FuzzKeys.epoch1)
        fuzzCheck(again.flatMap { SymlinkCodec.decrypt(Array($0.utf8), keyring: FuzzKeys.keyring) } == target,
                  "symlink target does not round-trip")
    }
    // Long targets: any backing symlink text or side-file content is classified without trapping.
    if SymlinkCodec.isSideFileName(bytes), bytes.allSatisfy({ $0 > 0 && $0 < 0x80 }) {
        fuzzCheck(NameCodec.classify(String(decoding: bytes, as: UTF8.self)) == .symlinkTargetFile, "side-file name misclassified")
    }
    _ = SymlinkCodec.sideFileMatches(name: SymlinkCodec.sideFilePrefix + "x", content: bytes)
    _ = SymlinkCodec.epoch(ofStored: bytes)
    let name = String(decoding: bytes, as: UTF8.self)
    for dirKeys in directoryAttributeKeys {
        _ = XattrCodec.decryptName(name, keys: dirKeys)
        _ = XattrCodec.decryptName(XattrCodec.userPrefix + name, keys: dirKeys)
        _ = XattrCodec.openValue(bytes, backingName: "user.fuzz", keys: dirKeys)
    }
    return 0
}

/// A directory's attribute keys under a version-1 IV (the epoch's) and a version-2 IV (derived from it).
let directoryAttributeKeys: [XattrKeys] = {
    let iv = DirectoryIV(epoch: 1, iv: [UInt8](repeating: 0, count: 16))
    return [XattrKeys.forDirectory(keys: FuzzKeys.epoch1, iv: iv), XattrKeys.forDirectory(keys: FuzzKeys.epoch1, iv: iv.authenticated(keys: FuzzKeys.epoch1))]
}()

runFuzzer { fuzz($0, $1) }
