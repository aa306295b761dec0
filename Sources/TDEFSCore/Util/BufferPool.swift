import Synchronization

/// Reusable, page-aligned scratch buffers for the read and write paths, so a request allocates
/// nothing once the pool has warmed up. Buffers are never freed while the pool lives.
public final class BufferPool: Sendable {
    public let bufferSize: Int
    // Addresses are kept as integers so the pool is Sendable; the memory is owned by the pool.
    private let free = Mutex<[UInt]>([])
    public init(bufferSize: Int) { self.bufferSize = bufferSize }

    @inline(__always)
    public func withBuffer<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let address = free.withLock { $0.popLast() }
            ?? UInt(bitPattern: UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 4096))
        defer { free.withLock { $0.append(address) } }
        let p = UnsafeMutableRawPointer(bitPattern: address)!
        return try body(UnsafeMutableRawBufferPointer(start: p, count: bufferSize))
    }

    deinit {
        free.withLock { for a in $0 { UnsafeMutableRawPointer(bitPattern: a)?.deallocate() } }
    }
}

/// Reusable AES-GCM contexts (an EVP context is not thread-safe; fetching one per request is slow).
final class GCMPool: Sendable {
    private let free = Mutex<[AESGCM]>([])

    @inline(__always)
    func withContext<R, E: Error>(key: SecureBytes, size: AESKeySize, _ body: (AESGCM) throws(E) -> R) throws(E) -> R {
        let ctx = free.withLock { $0.popLast() } ?? AESGCM()
        defer { free.withLock { $0.append(ctx) } }
        ctx.setKey(key, size: size)
        return try body(ctx)
    }
}
