import Glibc

/// A readers-writer lock (pthread_rwlock): many concurrent readers of a file's extents, one writer.
/// The pthread_rwlock_t lives in the tail storage of one object (there is a lock per inode, so
/// one allocation rather than two matters).
struct RWLock: @unchecked Sendable {
    private let storage: RWLockStorage

    init() {
        storage = unsafeDowncast(RWLockStorage.create(minimumCapacity: 1) { _ in () }, to: RWLockStorage.self)
        storage.withUnsafeMutablePointerToElements { p in
            p.initialize(to: pthread_rwlock_t())
            _ = pthread_rwlock_init(p, nil)
        }
    }

    @inline(__always) func withReadLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        storage.withUnsafeMutablePointerToElements { _ = pthread_rwlock_rdlock($0) }
        defer { storage.withUnsafeMutablePointerToElements { _ = pthread_rwlock_unlock($0) } }
        return try body()
    }

    @inline(__always) func withWriteLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        storage.withUnsafeMutablePointerToElements { _ = pthread_rwlock_wrlock($0) }
        defer { storage.withUnsafeMutablePointerToElements { _ = pthread_rwlock_unlock($0) } }
        return try body()
    }
}

private final class RWLockStorage: ManagedBuffer<Void, pthread_rwlock_t> {
    deinit {
        withUnsafeMutablePointerToElements { p in
            _ = pthread_rwlock_destroy(p)
            _ = p.deinitialize(count: 1)
        }
    }
}
