import CFuse
import Glibc
import TDEFSCore

/// Keeps the number of inodes the kernel holds (each an open descriptor in the daemon) well under
/// the open-file limit. The kernel forgets inodes only under memory pressure, so a tree larger than
/// the limit would otherwise end in EMFILE. A thread of its own wakes when a new inode pushes the
/// count above half the limit (and ten times a second regardless), and asks the kernel to drop
/// the entries of unused files and symlinks (fuse_lowlevel_notify_inval_entry) until a quarter
/// would remain. The room above half is for lookups that arrive before the kernel's forgets do:
/// a lookup holds its directory's lock, so entries of that directory cannot be dropped meanwhile. The kernel then forgets
/// them, and the daemon closes their descriptors; a later lookup opens them again.
/// It runs outside every request, as libfuse requires for notifications.
final class CacheTrimmer: @unchecked Sendable {
    // The session pointer is only used while the loop runs; run() stops this thread before the
    // session is destroyed.
    private let session: OpaquePointer
    private let state: SessionState
    let high: Int
    let low: Int
    /// Posted by the engine (from request threads) when the count passes `high`.
    private let wakeup = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init(session: OpaquePointer, state: SessionState, openFileLimit: Int) {
        self.session = session
        self.state = state
        // Leave room for the descriptors that are not inodes (open files, directories being read).
        high = max(128, openFileLimit / 2)
        low = max(64, openFileLimit / 4)
        sem_init(wakeup, 0, 0)
    }

    deinit {
        sem_destroy(wakeup)
        wakeup.deallocate()
    }

    static func openFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(min(limit.rlim_cur, UInt(Int32.max)))  // RLIM_INFINITY is the largest value
    }

    func start() -> pthread_t? {
        state.fileSystem.onInodePressure(highWater: high) { [self] in signal() }
        switch DaemonThread.start({ self.loop() }) {
        case .success(let thread):
            return thread
        case .failure(let error):
            state.fileSystem.onInodePressure(highWater: .max, nil)
            state.logger.warning("cannot start the cache trimmer: \(error)")
            return nil
        }
    }

    /// Wakes the thread (at most one wakeup pending).
    private func signal() {
        var pending: Int32 = 0
        sem_getvalue(wakeup, &pending)
        if pending < 1 { sem_post(wakeup) }
    }

    private func loop() {
        // The engine's handler holds this trimmer, which holds the engine: let go on the way out.
        defer { state.fileSystem.onInodePressure(highWater: .max, nil) }
        while !state.stopped.load(ordering: .acquiring) {
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            deadline.tv_nsec += 100_000_000
            if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
            _ = sem_timedwait(wakeup, &deadline)
            let count = state.fileSystem.cachedInodeCount
            guard count > high else { continue }
            for entry in state.fileSystem.evictionCandidates(limit: count - low) {
                if state.stopped.load(ordering: .acquiring) { return }
                // ENOENT (the kernel no longer has that entry) and the like change nothing here.
                _ = entry.name.withCString { fuse_lowlevel_notify_inval_entry(session, entry.parent, $0, strlen($0)) }
            }
        }
    }
}
