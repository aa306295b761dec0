import CFuse

/// What tdefs asks of the kernel at INIT. libfuse has already set its defaults in `want` (for
/// those the kernel is `capable` of) when this runs; this turns on what we rely on and off what we
/// must not have. Every request goes through the shim helpers, which ask only for what `capable`
/// has (asking for more fails INIT with EPROTO) and keep the 32/64-bit flag width in one place.
enum CapabilityNegotiation {
    /// The largest write the kernel may send; also the read buffer size (see ReplyBuffers).
    static let maxWrite: UInt32 = 1 << 20

    /// Capabilities we want when the kernel offers them.
    static let wanted: [Int32] = [
        // Several reads of one file may be in flight at once.
        FUSE_CAP_ASYNC_READ,
        // The engine handles O_TRUNC in open/create itself (no setattr before open).
        FUSE_CAP_ATOMIC_O_TRUNC,
        // Listings carry attributes: `ls -l` and `rm -r` need no lookup per entry.
        FUSE_CAP_READDIRPLUS,
        // The kernel gathers small writes into pages and sends them in large requests at close,
        // fsync or writeback, and keeps size and mtime itself. Correct because only this daemon
        // changes the backing files; the kernel then places O_APPEND writes (the adapter drops
        // O_APPEND before the engine sees it). See docs/performance.md.
        FUSE_CAP_WRITEBACK_CACHE,
    ]

    /// Capabilities we must not have, whatever libfuse's defaults are.
    static let unwanted: [Int32] = [
        // No NFS export: node ids are not stable across mounts.
        FUSE_CAP_EXPORT_SUPPORT,
        // Plain buffers only.
        FUSE_CAP_SPLICE_READ, FUSE_CAP_SPLICE_WRITE, FUSE_CAP_SPLICE_MOVE,
        // No getlk/setlk/flock: the kernel keeps POSIX and flock locks locally, which is right for
        // a filesystem that only this daemon serves.
        FUSE_CAP_POSIX_LOCKS, FUSE_CAP_FLOCK_LOCKS,
        // The kernel clears setuid/setgid on write and chown (it sends a mode change); the engine
        // does not. A root daemon writing the backing file would not clear them itself.
        FUSE_CAP_HANDLE_KILLPRIV,
        // The kernel applies the umask before sending a mode; no ACLs.
        FUSE_CAP_DONT_MASK, FUSE_CAP_POSIX_ACL,
        // Always readdirplus once a directory is listed (not the kernel's adaptive choice).
        FUSE_CAP_READDIRPLUS_AUTO,
    ]

    static func negotiate(_ conn: UnsafeMutablePointer<fuse_conn_info>) {
        for cap in unwanted { tdefs_conn_unwant(conn, flag(cap)) }
        for cap in wanted { tdefs_conn_want(conn, flag(cap)) }
        if conn.pointee.max_write == 0 || conn.pointee.max_write > maxWrite {
            conn.pointee.max_write = maxWrite
        }
        // max_readahead stays as the kernel offered it.
    }

    static func wants(_ conn: UnsafeMutablePointer<fuse_conn_info>, _ cap: Int32) -> Bool {
        tdefs_conn_wants(conn, flag(cap)) != 0
    }

    /// FUSE_CAP_* import as Int32; the helpers take the (future 64-bit) flag value.
    @inline(__always)
    static func flag(_ cap: Int32) -> UInt64 { UInt64(UInt32(bitPattern: cap)) }
}
