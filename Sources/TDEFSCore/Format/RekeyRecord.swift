import CPlatform

/// The re-key record (docs/format.md, "Re-key record"): while `rotate --reencrypt` gives a file a
/// new key, the header it moves to is kept in the backing file's attribute user.tdefs.rekey, and
/// every extent opens under either key. Read here for the engine and for fsck alike.
enum RekeyRecord {
    static let attribute = "user.tdefs.rekey"

    enum State {
        /// No record (or a leftover naming the current key): the header alone says it all.
        case none
        /// Moving to `header` with `fileKey`.
        case pending(header: FileHeader, fileKey: SecureBytes)
        /// A record that is not a header of this file under an unlocked epoch.
        case damaged
    }

    /// The record of the backing file open at `fd`, whose current header is `current` with `currentKey`.
    static func read(fd: Int32, current: FileHeader, currentKey: SecureBytes, keyring: Keyring) -> State {
        var buf = [UInt8](repeating: 0, count: FileHeader.byteCount + 1)
        let n = buf.withUnsafeMutableBytes { tdefs_fgetxattr(fd, attribute, $0.baseAddress, $0.count) }
        if n < 0 { return .none }
        guard n == FileHeader.byteCount, let next = FileHeader(parsing: Array(buf[0..<n])), next.fileID == current.fileID,
              let keys = keyring.epoch(next.epoch), let nextKey = next.unwrap(keys: keys) else { return .damaged }
        if nextKey.constantTimeEquals(currentKey) { return .none }
        return .pending(header: next, fileKey: nextKey)
    }
}
