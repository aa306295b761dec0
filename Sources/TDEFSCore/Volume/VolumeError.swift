/// Why a volume could not be created, read or unlocked. Messages name paths, never key material.
public enum VolumeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The backing directory does not exist or is not a directory.
    case backingMissing(path: String)
    /// The backing directory has no tdefs.conf.
    case notAVolume(path: String)
    /// tdefs.conf cannot be parsed or fails a check; `detail` says which.
    case corruptConfig(path: String, detail: String)
    /// tdefs.conf names a format version this tdefs does not know.
    case unsupportedVersion(path: String, version: Int)
    /// The key did not open the current epoch's master key.
    case wrongKey(path: String)
    /// `init` needs an empty (or missing) backing directory.
    case notEmpty(path: String)
    /// `init` found a volume there already.
    case alreadyAVolume(path: String)
    /// Another process holds the volume's lock (it is mounted, or being changed).
    case locked(path: String)
    /// One of tdefs' own files (tdefs.conf, tdefs.lock, tdefs.conflock, tdefs.import) is a FIFO, a
    /// device node, a symlink or another non-regular object: the backing directory was tampered with.
    case notRegularFile(path: String, kind: String)
    /// A system call failed.
    case io(path: String, operation: String, errno: Errno)
    /// `tdefs shred` destroyed the volume's keys (at `when`): its data cannot be decrypted.
    case shredded(path: String, when: String)

    public var description: String {
        switch self {
        case .backingMissing(let p): return "backing directory \(p) does not exist or is not a directory"
        case .notAVolume(let p): return "\(p) is not a tdefs volume (no tdefs.conf)"
        case .corruptConfig(let p, let d): return "corrupt or unsupported tdefs.conf in \(p): \(d)"
        case .unsupportedVersion(let p, let v):
            return "corrupt or unsupported tdefs.conf in \(p): format version \(v) is newer than this tdefs supports (\(FormatVersions.newestConfig))"
        case .wrongKey(let p): return "wrong key for \(p)"
        case .notEmpty(let p): return "backing directory \(p) is not empty"
        case .alreadyAVolume(let p): return "\(p) is already a tdefs volume"
        case .locked(let p): return "\(p) is already mounted or in use (tdefs.lock is held)"
        case .notRegularFile(let p, let k): return "\(p) is \(k), not a regular file (the backing directory was tampered with; remove it)"
        case .io(let p, let op, let e): return "\(op) \(p): \(e)"
        case .shredded(let p, let w):
            return "\(p) was shredded at \(w): its keys were destroyed and its data cannot be decrypted (remove the directory)"
        }
    }
}
