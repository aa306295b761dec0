import Glibc
import Synchronization

/// Identity of a backing object, so that hard links share one inode.
struct InodeKey: Hashable {
    var dev: UInt64
    var ino: UInt64
}

/// Where an inode was last seen: for log lines (plaintext paths) and for operations that need the
/// parent's descriptor (symlink times and owners).
struct InodeLocation {
    var parent: UInt64
    var name: String
    var backingName: String
}

/// The engine's record of one backing object the kernel knows about.
final class Inode: Sendable {
    let node: UInt64
    let key: InodeKey
    /// O_PATH | O_NOFOLLOW descriptor of the backing object; closed when the inode is dropped.
    let fd: Int32
    /// S_IFMT bits of the object.
    let kind: mode_t
    let location: Mutex<InodeLocation?>
    /// Directories: the IV file, read once.
    let directoryIV = Mutex<DirectoryIV?>(nil)
    /// Regular files: content state (key, lock).
    let content: FileContent?
    /// Directories: namespace operations share it; re-encrypting the names takes it alone.
    /// Regular files: the content lock (see FileContent). One lock per inode serves both, as an
    /// inode is never both.
    let lock = RWLock()
    var namespaceLock: RWLock { lock }
    /// Directories: whether an interrupted name migration (tdefs.diriv.next) was looked for.
    let migrationChecked = Atomic<Bool>(false)
    /// Symlinks: the decrypted target, read once.
    let symlinkTarget = Mutex<[UInt8]?>(nil)

    init(node: UInt64, key: InodeKey, fd: Int32, kind: mode_t, location: InodeLocation?) {
        self.node = node
        self.key = key
        self.fd = fd
        self.kind = kind
        self.location = Mutex(location)
        content = kind == S_IFREG ? FileContent(lock: lock) : nil
    }

    deinit { close(fd) }

    var isDirectory: Bool { kind == S_IFDIR }
    var isRegular: Bool { kind == S_IFREG }
    var isSymlink: Bool { kind == S_IFLNK }

    /// "/proc/self/fd/N": reopens the object (not for symlinks).
    var procPath: String { "/proc/self/fd/\(fd)" }
}

/// The loaded header of a regular file.
/// While a file is re-keyed (rotate --reencrypt), `previousKey` is its old key: extents not yet
/// converted still open with it.
final class LoadedHeader: Sendable {
    let header: FileHeader
    let fileKey: SecureBytes
    let previousKey: SecureBytes?
    let previousSize: AESKeySize
    /// The format version the previous key's extents were written in: a re-key from a v1 header
    /// to a v2 one (rotate --reencrypt moving a volume to v2) reads them by v1's rules.
    let previousVersion: UInt8
    /// Extents sealed under `fileKey` (NonceBudget).
    let budget: NonceBudget
    private let derivedXattrKeys = Mutex<XattrKeys?>(nil)
    init(header: FileHeader, fileKey: SecureBytes, previousKey: SecureBytes? = nil, previousSize: AESKeySize? = nil,
         previousVersion: UInt8? = nil, budget: NonceBudget = NonceBudget()) {
        self.header = header
        self.budget = budget
        self.fileKey = fileKey
        self.previousKey = previousKey
        self.previousSize = previousSize ?? header.size
        self.previousVersion = previousVersion ?? header.version
    }

    /// The previous file key's attribute keys while a re-key is in progress.
    var previousXattrKeys: XattrKeys? {
        previousKey.map { XattrKeys.forFile(fileKey: $0, fileID: header.fileID, size: previousSize) }
    }

    /// Derived on first use: most opened files never touch an extended attribute.
    var xattrKeys: XattrKeys {
        derivedXattrKeys.withLock { keys in
            if let keys { return keys }
            let k = XattrKeys.forFile(fileKey: fileKey, fileID: header.fileID, size: header.size)
            keys = k
            return k
        }
    }
}

/// Per-file content state shared by all open handles of one inode.
final class FileContent: Sendable {
    /// Readers share, writers and truncation exclude: no reader sees a half-written extent.
    let lock: RWLock
    /// The header and file key, loaded on first use by an open handle and dropped when the last
    /// handle closes: the kernel keeps every inode it has seen, and a tree of closed files should
    /// not keep its keys in memory (nor cost memory for them).
    let header = Mutex<LoadedHeader?>(nil)
    /// The file's mtime as the kernel knows it (it keeps a file's times itself under the writeback
    /// cache), when the backing file's may differ: the one the kernel last sent through an open
    /// handle, or the backing one from before the writes since. Set on the backing file at a full
    /// fsync and when a handle closes: setting it at each write would cost a disk write at every
    /// fdatasync (see `FileSystem.write` and `setattr`). Changed under the content lock.
    let deferredMtime = Mutex<timespec?>(nil)
    /// Extent seals of the dropped header's key not yet kept in the backing file (NonceBudget),
    /// added to the count when the header is loaded again.
    let carriedSeals = Atomic<UInt64>(0)
    private let openHandles = Atomic<Int>(0)
    init(lock: RWLock) { self.lock = lock }

    func handleOpened() { openHandles.add(1, ordering: .relaxed) }

    var hasOpenHandles: Bool { openHandles.load(ordering: .relaxed) > 0 }

    func handleClosed() {
        guard openHandles.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
        // An open that raced in after the count reached zero either finds the header (and it is
        // kept: the count is no longer zero under this lock) or loads it again.
        header.withLock {
            guard openHandles.load(ordering: .acquiring) == 0 else { return }
            if let budget = $0?.budget { carriedSeals.store(budget.unpersisted, ordering: .relaxed) }
            $0 = nil
        }
    }
}
