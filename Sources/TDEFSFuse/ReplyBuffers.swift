import Glibc

/// One reusable reply buffer per libfuse worker thread, for read and readdir replies: no
/// allocation per request (a per-request allocation of this size costs an mmap/munmap each time).
/// fuse_reply_buf copies the data into the kernel before it returns, so the buffer is free again
/// as soon as the reply is sent. Freed by the thread-specific-data destructor when the thread ends.
enum ReplyBuffers {
    /// The kernel's largest read (max_pages = 256 pages) plus a page of slack.
    static let capacity = (1 << 20) + 4096
    static let alignment = 4096

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key, { buffer in free(buffer) })
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return key
    }()

    /// Runs `body` with a buffer of at least `count` bytes: the thread's own buffer when it is
    /// large enough (always, for requests the kernel sends), else a temporary one. The buffer is
    /// only valid inside `body`. nil when memory is exhausted.
    static func withBuffer<R>(count: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R? {
        if count <= capacity, let base = threadBuffer() {
            return body(UnsafeMutableRawBufferPointer(start: base, count: count))
        }
        guard let base = malloc(max(count, 1)) else { return nil }
        defer { free(base) }
        return body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    private static func threadBuffer() -> UnsafeMutableRawPointer? {
        if let existing = pthread_getspecific(key) { return existing }
        var base: UnsafeMutableRawPointer?
        guard posix_memalign(&base, alignment, capacity) == 0, let base else { return nil }
        guard pthread_setspecific(key, base) == 0 else {
            free(base)
            return nil
        }
        return base
    }
}
