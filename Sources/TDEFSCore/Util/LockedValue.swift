/// A value that threads share behind a pthread lock. For state that ThreadSanitizer must see
/// synchronized: it models pthread locks, and reported accesses inside Synchronization.Mutex's
/// futex-based lock as races (the live census, under scripts/sanitizers.sh).
public final class LockedValue<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = RWLock()

    public init(_ value: Value) { self.value = value }

    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try lock.withWriteLock { () throws(E) -> R in try body(&value) }
    }
}
