import CPlatform
import Glibc

/// Key material: page-locked, zeroed when dropped, never printed.
public final class SecureBytes: @unchecked Sendable, CustomStringConvertible {
    // Immutable after init (except through withUnsafeMutableBytes during construction by the owner).
    public let count: Int
    private let pointer: UnsafeMutableRawPointer

    public init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        MemoryLock.lock(pointer, max(count, 1))
    }

    /// Copies bytes in; the caller should zero its own copy.
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        self.init(count: bytes.count)
        var i = 0
        for b in bytes { pointer.storeBytes(of: b, toByteOffset: i, as: UInt8.self); i += 1 }
    }

    /// Fresh random bytes from the kernel.
    public static func random(count: Int) -> SecureBytes {
        let s = SecureBytes(count: count)
        s.withUnsafeMutableBytes { Random.fill($0) }
        return s
    }

    deinit {
        tdefs_explicit_bzero(pointer, max(count, 1))
        // No munlock: locking works per page, and a page may hold other live keys. Pages stay
        // locked until the process ends (bounded by the heap's size).
        pointer.deallocate()
    }

    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    /// A new SecureBytes holding bytes [0, n).
    public func prefix(_ n: Int) -> SecureBytes {
        let s = SecureBytes(count: min(n, count))
        s.withUnsafeMutableBytes { dst in dst.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: dst.count)) }
        return s
    }

    public func constantTimeEquals(_ other: SecureBytes) -> Bool {
        guard count == other.count else { return false }
        var diff: UInt8 = 0
        other.withUnsafeBytes { o in
            for i in 0..<count { diff |= o[i] ^ pointer.load(fromByteOffset: i, as: UInt8.self) }
        }
        return diff == 0
    }

    public var description: String { "SecureBytes(\(count) bytes, redacted)" }
}

/// Kernel randomness (getrandom), never a user-space generator.
public enum Random {
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard var p = buffer.baseAddress else { return }
        var left = buffer.count
        while left > 0 {
            let n = tdefs_getrandom(p, left)
            if n < 0 {
                if errno == EINTR { continue }
                fatalError("getrandom failed: errno \(errno)")
            }
            p += n
            left -= n
        }
    }

    public static func bytes(_ count: Int) -> [UInt8] {
        var a = [UInt8](repeating: 0, count: count)
        a.withUnsafeMutableBytes { fill($0) }
        return a
    }
}
