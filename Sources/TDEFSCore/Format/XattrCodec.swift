/// user.* extended attributes: names under AES-SIV, values under AES-GCM bound to the name.
public struct XattrKeys: Sendable {
    public let size: AESKeySize
    public let nameKey: SecureBytes
    public let valueKey: SecureBytes

    /// Keys of a regular file, derived from its file key.
    public static func forFile(fileKey: SecureBytes, fileID: [UInt8], size: AESKeySize) -> XattrKeys {
        XattrKeys(size: size,
                  nameKey: KDF.hkdfSHA256(key: fileKey, salt: fileID, info: "tdefs v1 xattr-name", length: size.sivKeyBytes),
                  valueKey: KDF.hkdfSHA256(key: fileKey, salt: fileID, info: "tdefs v1 xattr-value", length: size.gcmKeyBytes))
    }

    /// Keys of a directory with IV file `iv` of `keys`' epoch: the epoch's own under a version-1
    /// IV; under a version-2 IV derived from them and the IV, so that an attribute copied to
    /// another directory does not open there.
    public static func forDirectory(keys: EpochKeys, iv: DirectoryIV) -> XattrKeys {
        guard iv.version >= 2 else { return XattrKeys(size: keys.size, nameKey: keys.dirXattrName, valueKey: keys.dirXattrValue) }
        return XattrKeys(size: keys.size,
                         nameKey: KDF.hkdfSHA256(key: keys.dirXattrName, salt: iv.iv, info: "tdefs v3 dir-xattr-name", length: keys.size.sivKeyBytes),
                         valueKey: KDF.hkdfSHA256(key: keys.dirXattrValue, salt: iv.iv, info: "tdefs v3 dir-xattr-value", length: keys.size.gcmKeyBytes))
    }
}

public enum XattrCodec {
    public static let userPrefix = "user."
    public static let maxBackingNameBytes = 255

    /// The backing attribute name for a plaintext "user.xxx" name.
    public static func encryptName(_ name: String, keys: XattrKeys) throws(Errno) -> String {
        guard name.hasPrefix(userPrefix) else { throw Errno.ENOTSUP }
        let rest = Array(name.utf8.dropFirst(userPrefix.utf8.count))
        if rest.isEmpty { throw Errno.EINVAL }
        let box = NameCodec.pad(rest).withUnsafeBytes { AESSIV.seal(key: keys.nameKey, associatedData: [], plaintext: $0) }
        let backing = userPrefix + Base64URL.encode(box)
        if backing.utf8.count > maxBackingNameBytes { throw Errno.ERANGE }
        return backing
    }

    /// The plaintext name of a backing attribute name; nil for reserved or undecryptable names.
    public static func decryptName(_ backing: String, keys: XattrKeys) -> String? {
        guard backing.hasPrefix(userPrefix) else { return nil }
        let rest = Array(backing.utf8.dropFirst(userPrefix.utf8.count))
        guard !rest.contains(0x2E), let box = Base64URL.decode(rest),
              let padded = box.withUnsafeBytes({ AESSIV.open(key: keys.nameKey, associatedData: [], box: $0) }),
              let name = NameCodec.unpad(padded) else { return nil }
        return userPrefix + String(decoding: name, as: UTF8.self)
    }

    public static func sealValue(_ value: [UInt8], backingName: String, keys: XattrKeys) -> [UInt8] {
        let gcm = AESGCM()
        gcm.setKey(keys.valueKey, size: keys.size)
        return gcm.sealBox(value, aad: Array(backingName.utf8))
    }

    public static func openValue(_ stored: [UInt8], backingName: String, keys: XattrKeys) -> [UInt8]? {
        let gcm = AESGCM()
        gcm.setKey(keys.valueKey, size: keys.size)
        return gcm.openBox(stored, aad: Array(backingName.utf8))
    }
}
