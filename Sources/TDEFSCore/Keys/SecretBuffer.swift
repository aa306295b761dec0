import CPlatform
import Glibc

/// A growable byte buffer for secrets on their way into SecureBytes: locked, and every discarded
/// region (on growth and at the end) is zeroed.
final class SecretBuffer {
    private(set) var count = 0
    private var capacity: Int
    private var pointer: UnsafeMutableRawPointer

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
        MemoryLock.lock(pointer, self.capacity)
    }

    deinit { release(pointer, capacity) }

    private func release(_ p: UnsafeMutableRawPointer, _ n: Int) {
        tdefs_explicit_bzero(p, n)
        // No munlock, as in SecureBytes: the page may hold other live keys.
        p.deallocate()
    }

    func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        var newCapacity = capacity * 2
        while newCapacity < count + extra { newCapacity *= 2 }
        let p = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        MemoryLock.lock(p, newCapacity)
        p.copyMemory(from: pointer, byteCount: count)
        release(pointer, capacity)
        pointer = p
        capacity = newCapacity
    }

    func append(_ byte: UInt8) {
        reserve(1)
        pointer.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Reads `fd` to its end. Throws `.tooLarge` past `limit` bytes.
    func readAll(fd: Int32, limit: Int, what: String) throws(KeySourceError) {
        while true {
            reserve(4096)
            let n = read(fd, pointer + count, capacity - count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: what, errno: .current)
            }
            if n == 0 { return }
            count += n
            if count > limit { throw .tooLarge(what: what) }
        }
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }

    /// A SecureBytes copy of bytes[range].
    func secure(_ range: Range<Int>) -> SecureBytes {
        let s = SecureBytes(count: range.count)
        s.withUnsafeMutableBytes { dst in
            if range.count > 0 { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[range])) }
        }
        return s
    }
}
