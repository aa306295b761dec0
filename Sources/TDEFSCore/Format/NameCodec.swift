/// Encrypts and decrypts names in directories (docs/format.md, "Names"), and maps an encrypted
/// name to its backing name (long names go under a hash).
public enum NameCodec {
    public static let maxNameBytes = 255
    public static let maxBackingNameBytes = 255
    public static let padBlock = 32
    public static let longPrefix = "tdefs.long."
    public static let longSuffix = ".name"

    /// PKCS#7 padding to a multiple of 32 bytes.
    public static func pad(_ name: [UInt8]) -> [UInt8] {
        let n = padBlock - name.count % padBlock
        return name + [UInt8](repeating: UInt8(n), count: n)
    }

    public static func unpad(_ padded: [UInt8]) -> [UInt8]? {
        guard let last = padded.last, last >= 1, Int(last) <= padBlock, Int(last) <= padded.count,
              padded.count % padBlock == 0 else { return nil }
        let n = Int(last)
        for b in padded[(padded.count - n)...] where b != last { return nil }
        return Array(padded[..<(padded.count - n)])
    }

    /// Checks a plaintext name: 1 to 255 bytes, not "." or "..", no '/' or NUL.
    public static func validate(_ name: [UInt8]) throws(Errno) {
        if name.count > maxNameBytes { throw Errno.ENAMETOOLONG }
        if name.isEmpty || name == [0x2E] || name == [0x2E, 0x2E] || name.contains(0x2F) || name.contains(0) {
            throw Errno.EINVAL
        }
    }

    /// The base64url encrypted name of `name` in a directory with IV `iv` under `key` (AES-SIV).
    public static func encrypt(_ name: [UInt8], iv: [UInt8], key: AESSIVKey) -> String {
        let padded = pad(name)
        let box = padded.withUnsafeBytes { key.seal(associatedData: [iv], plaintext: $0) }
        return Base64URL.encode(box)
    }

    /// The plaintext name, or nil if the encrypted name is malformed or does not authenticate.
    public static func decrypt(_ encrypted: String, iv: [UInt8], key: AESSIVKey) -> [UInt8]? {
        guard let box = Base64URL.decode(encrypted), box.count >= AESSIV.tagBytes + padBlock else { return nil }
        guard let padded = box.withUnsafeBytes({ key.open(associatedData: [iv], box: $0) }) else { return nil }
        guard let name = unpad(padded), (try? validate(name)) != nil else { return nil }
        return name
    }

    /// The backing name for an encrypted name: itself, or tdefs.long.<hash> when too long.
    public static func backingName(forEncrypted encrypted: String) -> (name: String, isLong: Bool) {
        if encrypted.utf8.count <= maxBackingNameBytes { return (encrypted, false) }
        return (longPrefix + Base64URL.encode(KDF.sha256(Array(encrypted.utf8))), true)
    }

    /// The side file that holds a long name's full encrypted name.
    public static func sideFileName(forLong backingName: String) -> String { backingName + longSuffix }

    public enum BackingNameKind: Equatable {
        case encrypted      // a user entry under its encrypted name
        case long           // a user entry under tdefs.long.<hash>
        case longSideFile   // tdefs.long.<hash>.name
        case symlinkTargetFile  // tdefs.target.<hash>: a long symlink target (only at the root)
        case reserved       // tdefs.conf, tdefs.diriv, tdefs.lock, tdefs.tmp.*, anything else with '.'
    }

    public static func classify(_ backingName: String) -> BackingNameKind {
        guard backingName.utf8.contains(0x2E) else { return .encrypted }
        if backingName.hasPrefix(longPrefix) {
            let rest = backingName.utf8.dropFirst(longPrefix.utf8.count)
            if !rest.contains(0x2E) { return .long }
            if backingName.hasSuffix(longSuffix) && rest.filter({ $0 == 0x2E }).count == 1 { return .longSideFile }
        }
        if SymlinkCodec.isSideFileName(backingName.utf8) { return .symlinkTargetFile }
        return .reserved
    }

    /// Checks that a long entry's side file content matches its hash.
    public static func longNameMatches(backingName stored: String, encrypted: String) -> Bool {
        let expected = backingName(forEncrypted: encrypted)
        return expected.isLong && expected.name == stored
    }
}
