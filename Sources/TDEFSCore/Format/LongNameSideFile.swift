import Glibc

/// The side file `<long backing name>.name` that holds a long name's whole encrypted form
/// (docs/format.md). Read by the engine (listing, lookup) and by fsck.
enum LongNameSideFile {
    enum Content: Equatable {
        case missing
        /// Present, but its content does not hash to the entry's name.
        case damaged
        case name(String)
    }

    /// Reads and checks the side file of the long entry `backingName` in the directory `dirFD`.
    static func read(dirFD: Int32, backingName: String) -> Content {
        let fd: Int32
        do throws(Errno) {
            fd = try BackingFile.open(NameCodec.sideFileName(forLong: backingName), in: dirFD)
        } catch {
            // A FIFO, device node or symlink in its place is damage, not absence.
            return error == .EIO ? .damaged : .missing
        }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let stored = String(decoding: bytes[0..<max(0, n)], as: UTF8.self)
        guard n > 0, NameCodec.longNameMatches(backingName: backingName, encrypted: stored) else { return .damaged }
        return .name(stored)
    }
}
