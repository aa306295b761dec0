import Glibc

/// The exclusive flock on BACKING/tdefs.lock that a mounted volume's daemon holds for its life.
/// The lock belongs to the open file description: a child that inherits the descriptor keeps it.
public final class VolumeLock {
    public let fd: Int32

    /// Creates tdefs.lock (0600) if needed and takes LOCK_EX | LOCK_NB; `.locked` when another holds it.
    /// With `inheritable`, the descriptor stays open across exec (for the daemon child).
    public init(backingPath: String, inheritable: Bool = false) throws(VolumeError) {
        let dir = try BackingDirectory(path: backingPath)
        let fd = try BackingFile.open(Volume.lockName, in: dir, flags: O_RDWR | O_CREAT, cloexec: !inheritable)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            close(fd)
            if e == EWOULDBLOCK { throw .locked(path: backingPath) }
            throw .io(path: backingPath + "/" + Volume.lockName, operation: "lock", errno: Errno(e))
        }
        self.fd = fd
    }

    /// Adopts a descriptor inherited from the parent, which already holds the lock on it.
    public init(inheritedFD fd: Int32, backingPath: String) throws(VolumeError) {
        // Re-locking the same open file description succeeds; a foreign or unlocked fd gets locked or fails.
        guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw .locked(path: backingPath) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
    }

    deinit { close(fd) }

    /// The daemon holding the lock records its control nonce (ControlEndpoint) in the lock file.
    public func recordDaemonNonce(_ nonce: String) throws(Errno) {
        let bytes = Array((nonce + "\n").utf8)
        _ = try sys { ftruncate(fd, 0) }
        let n = try sys { bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        if n != bytes.count { throw Errno.EIO }
    }

    /// The nonce the daemon of the volume at `backingPath` recorded; nil when none can be read.
    public static func daemonNonce(backingPath: String) -> String? {
        guard let dir = try? BackingDirectory(path: backingPath),
              let fd = try? BackingFile.open(Volume.lockName, in: dir.fd) else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 1, buf[n - 1] == 0x0A else { return nil }
        return String(decoding: buf[0..<(n - 1)], as: UTF8.self)
    }

    /// True when some process holds the lock of the volume at `backingPath` (false when there is
    /// no lock file or it cannot be opened, or is not a regular file).
    public static func isHeld(backingPath: String) -> Bool {
        guard let dir = try? BackingDirectory(path: backingPath),
              let fd = try? BackingFile.open(Volume.lockName, in: dir.fd) else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return false }
        return errno == EWOULDBLOCK
    }

    /// Waits (polling every 50 ms, at most `seconds`) until no process holds the volume's lock: a
    /// daemon that was told to stop has flushed and gone. False when it is still held.
    public static func waitUntilReleased(backingPath: String, seconds: Double) -> Bool {
        var waited = 0.0
        while isHeld(backingPath: backingPath) {
            if waited >= seconds { return false }
            usleep(50_000)
            waited += 0.05
        }
        return true
    }
}
