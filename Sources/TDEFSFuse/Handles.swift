/// Engine objects (OpenFile, OpenDirectory) travel to the kernel and back as `fi->fh`: a retained
/// reference stored as its address. Opening stores, every request borrows, release takes it back.
enum Handles {
    static func store<T: AnyObject>(_ object: T) -> UInt64 {
        UInt64(UInt(bitPattern: Unmanaged.passRetained(object).toOpaque()))
    }

    static func borrow<T: AnyObject>(_ fh: UInt64, as type: T.Type) -> T? {
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(fh)) else { return nil }
        return Unmanaged<T>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Drops the reference that `store` took; the handle must not be used afterwards.
    static func take<T: AnyObject>(_ fh: UInt64, as type: T.Type) -> T? {
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(fh)) else { return nil }
        return Unmanaged<T>.fromOpaque(pointer).takeRetainedValue()
    }
}
