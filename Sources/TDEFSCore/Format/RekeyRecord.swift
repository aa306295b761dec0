import CPlatform

/// The re-key record (docs/format.md, "Re-key record"): while `rotate --reencrypt` gives a file a
/// new key, the header it moves to is kept in the backing file's attribute user.tdefs.rekey, and
/// every extent opens under either key. Read here for the engine and for fsck alike.
///
/// Layout: the next header (96 bytes) | nonce (16) | tag (16), an AES-GCM tag over the next header
/// (as AAD, no plaintext) under HKDF-SHA256(current file key, salt = file ID, info = "tdefs v2
/// rekey-record"), so only someone holding the file's current key can make one. A record is
/// accepted only while tdefs.conf records a re-encryption towards its epoch (`target`), so an old
/// header of the file replayed as a record is refused. Releases before this one wrote the bare
/// 96-byte header; such a record is accepted under the same condition on its epoch.
enum RekeyRecord {
    static let attribute = "user.tdefs.rekey"
    static let byteCount = FileHeader.byteCount + AESGCM.nonceBytes + AESGCM.tagBytes
    static let legacyByteCount = FileHeader.byteCount

    enum State {
        /// No record (or a leftover naming the current key): the header alone says it all.
        case none
        /// Moving to `header` with `fileKey`.
        case pending(header: FileHeader, fileKey: SecureBytes)
        /// A record that is not a header of this file under an unlocked epoch, or whose tag fails.
        case damaged
        /// A well-formed record towards `epoch`, but tdefs.conf records no re-encryption towards it.
        case refused(epoch: UInt32)
    }

    /// The record's bytes for moving the file from its current key to `next`.
    static func seal(next: FileHeader, current: FileHeader, currentKey: SecureBytes) -> [UInt8] {
        let header = next.bytes
        return header + recordCipher(current: current, currentKey: currentKey).sealBox([], aad: header)
    }

    /// The record of the backing file open at `fd`, whose current header is `current` with
    /// `currentKey`; `target`: the epoch tdefs.conf records a re-encryption towards, if any.
    static func read(fd: Int32, current: FileHeader, currentKey: SecureBytes, keyring: Keyring, target: UInt32?) -> State {
        var buf = [UInt8](repeating: 0, count: byteCount + 1)
        let n = buf.withUnsafeMutableBytes { tdefs_fgetxattr(fd, attribute, $0.baseAddress, $0.count) }
        if n < 0 { return .none }
        guard n == byteCount || n == legacyByteCount, let next = FileHeader(parsing: Array(buf[0..<FileHeader.byteCount])),
              next.fileID == current.fileID else { return .damaged }
        // A leftover of a finished re-key (a crash between the header switch and the removal).
        if next.bytes == current.bytes { return .none }
        if n == byteCount && !authenticates(Array(buf[0..<n]), current: current, currentKey: currentKey) { return .damaged }
        guard next.epoch == target else { return .refused(epoch: next.epoch) }
        guard let keys = keyring.epoch(next.epoch), let nextKey = next.unwrap(keys: keys) else { return .damaged }
        if nextKey.constantTimeEquals(currentKey) { return .none }
        return .pending(header: next, fileKey: nextKey)
    }

    /// Whether the record of the file at `fd` is a leftover of a finished re-key: the header it
    /// names is the current one (a crash between the header switch and the record's removal).
    static func isLeftover(fd: Int32, current: FileHeader) -> Bool {
        var buf = [UInt8](repeating: 0, count: byteCount + 1)
        let n = buf.withUnsafeMutableBytes { tdefs_fgetxattr(fd, attribute, $0.baseAddress, $0.count) }
        return (n == byteCount || n == legacyByteCount) && Array(buf[0..<FileHeader.byteCount]) == current.bytes
    }

    static func authenticates(_ record: [UInt8], current: FileHeader, currentKey: SecureBytes) -> Bool {
        let header = Array(record[0..<FileHeader.byteCount])
        return record[FileHeader.byteCount...].withUnsafeBytes { box in
            header.withUnsafeBytes { recordCipher(current: current, currentKey: currentKey).openBox(box, aad: $0) != nil }
        }
    }

    static func recordCipher(current: FileHeader, currentKey: SecureBytes) -> AESGCM {
        let gcm = AESGCM()
        gcm.setKey(recordKey(current: current, currentKey: currentKey), size: current.size)
        return gcm
    }

    static func recordKey(current: FileHeader, currentKey: SecureBytes) -> SecureBytes {
        KDF.hkdfSHA256(key: currentKey, salt: current.fileID, info: "tdefs v2 rekey-record", length: current.size.gcmKeyBytes)
    }
}
