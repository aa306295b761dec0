import Synchronization

/// What the engine counts for the daemon's metrics: the handles the kernel holds, and stored data
/// that failed to authenticate (each such read or lookup failed with EIO and was logged).
/// Always kept: a few atomic adds, none on the read and write paths.
public final class EngineCounters: Sendable {
    /// The kinds of stored objects whose authentication can fail.
    public enum Object: Int, CaseIterable, Sendable {
        case extent, header, name, symlink, xattr, directoryIV

        /// The `object` label of tdefs_authentication_failures_total.
        public var label: String {
            switch self {
            case .extent: return "extent"
            case .header: return "header"
            case .name: return "name"
            case .symlink: return "symlink"
            case .xattr: return "xattr"
            case .directoryIV: return "directory_iv"
            }
        }
    }

    let files = Atomic<Int>(0)
    let directories = Atomic<Int>(0)
    private let failures = Mutex([Int](repeating: 0, count: Object.allCases.count))

    public init() {}

    /// Open file handles (open and create answered, not yet released).
    public var openFiles: Int { files.load(ordering: .relaxed) }
    /// Open directory handles.
    public var openDirectories: Int { directories.load(ordering: .relaxed) }

    func fileOpened() { files.add(1, ordering: .relaxed) }
    func fileReleased() { files.subtract(1, ordering: .relaxed) }
    func directoryOpened() { directories.add(1, ordering: .relaxed) }
    func directoryReleased() { directories.subtract(1, ordering: .relaxed) }

    func authenticationFailed(_ object: Object) { failures.withLock { $0[object.rawValue] += 1 } }

    /// Authentication failures so far, by object.
    public func authenticationFailures(_ object: Object) -> Int { failures.withLock { $0[object.rawValue] } }
}
