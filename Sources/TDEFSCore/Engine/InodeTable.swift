import CPlatform
import Glibc
import Synchronization

/// Node ids handed to the kernel, with lookup counts (libfuse's passthrough_hp model).
final class InodeTable: Sendable {
    private struct State {
        var byNode: [UInt64: Inode] = [:]
        var byKey: [InodeKey: UInt64] = [:]
        var lookups: [UInt64: UInt64] = [:]
        var nextNode: UInt64 = 2
        /// Inodes dropped since the heap was last trimmed.
        var droppedSinceTrim = 0
    }

    /// After this many inodes are dropped (an `rm -rf`, or the kernel shrinking its cache), the
    /// freed heap goes back to the kernel: glibc would keep it, and the daemon's resident memory
    /// would stay at its peak.
    static let trimEvery = 4096
    private let state = Mutex(State())
    /// Above this many inodes, `pressureHandler` runs after each new one (see CacheTrimmer).
    let highWater = Atomic<Int>(Int.max)
    let pressureHandler = Mutex<(@Sendable () -> Void)?>(nil)

    init(root: Inode) {
        state.withLock {
            $0.byNode[root.node] = root
            $0.byKey[root.key] = root.node
            $0.lookups[root.node] = 1
        }
    }

    func get(_ node: UInt64) throws(Errno) -> Inode {
        guard let i = state.withLock({ $0.byNode[node] }) else { throw Errno(ESTALE) }
        return i
    }

    func find(_ key: InodeKey) -> Inode? {
        state.withLock { s in s.byKey[key].flatMap { s.byNode[$0] } }
    }

    /// Returns the inode for `key`, counting one lookup. `make` opens it when it is new; the
    /// descriptor `fd` (already open) is closed if an inode exists.
    func remember(key: InodeKey, fd: Int32, kind: mode_t, location: InodeLocation?) -> Inode {
        // duplicate: true when the inode existed; nil when a new one pushed the count past highWater.
        let (inode, duplicate): (Inode, Bool?) = state.withLock { s in
            if let n = s.byKey[key], let existing = s.byNode[n] {
                s.lookups[n, default: 0] += 1
                if let location { existing.location.withLock { $0 = location } }
                return (existing, true)
            }
            let n = s.nextNode
            s.nextNode += 1
            let inode = Inode(node: n, key: key, fd: fd, kind: kind, location: location)
            s.byNode[n] = inode
            s.byKey[key] = n
            s.lookups[n] = 1
            return (inode, s.byNode.count > highWater.load(ordering: .relaxed) ? nil : false)
        }
        if duplicate == true { close(fd) }
        if duplicate == nil, let handler = pressureHandler.withLock({ $0 }) { handler() }
        return inode
    }

    /// Counts one more lookup of `key`'s inode if the table still holds it (nil otherwise), and
    /// notes where it was seen: a known inode is looked up again without opening it again.
    func lookUpAgain(_ key: InodeKey, location: InodeLocation) -> Inode? {
        state.withLock { s in
            guard let n = s.byKey[key], let existing = s.byNode[n] else { return nil }
            s.lookups[n, default: 0] += 1
            existing.location.withLock { $0 = location }
            return existing
        }
    }

    /// Runs the pressure handler now (out of descriptors); false when none is installed.
    func relievePressure() -> Bool {
        guard let handler = pressureHandler.withLock({ $0 }) else { return false }
        handler()
        return true
    }

    /// Drops `count` lookups; the inode goes when none are left (open handles keep their own reference).
    func forget(_ node: UInt64, count: UInt64) {
        // The dropped inode is released (and its descriptor closed) after the lock, not under it.
        let (dropped, trim): (Inode?, Bool) = state.withLock { s in
            guard node != 1, let c = s.lookups[node] else { return (nil, false) }
            if c > count {
                s.lookups[node] = c - count
                return (nil, false)
            }
            s.lookups[node] = nil
            guard let inode = s.byNode.removeValue(forKey: node) else { return (nil, false) }
            if s.byKey[inode.key] == node { s.byKey[inode.key] = nil }
            s.droppedSinceTrim += 1
            if s.droppedSinceTrim < Self.trimEvery { return (inode, false) }
            s.droppedSinceTrim = 0
            return (inode, true)
        }
        withExtendedLifetime(dropped) {}
        if trim { tdefs_release_free_memory() }
    }

    func forgetAll() {
        state.withLock { s in
            let root = s.byNode[1]
            s = State()
            if let root {
                s.byNode[1] = root
                s.byKey[root.key] = 1
                s.lookups[1] = 1
            }
        }
    }

    /// Every inode the kernel holds (for the teardown).
    func all() -> [Inode] { state.withLock { Array($0.byNode.values) } }

    /// How many inodes the kernel holds (each with an open descriptor).
    var count: Int { state.withLock { $0.byNode.count } }

    var aboveHighWater: Bool { count > highWater.load(ordering: .relaxed) }

    /// Up to `limit` inodes the kernel could be asked to forget: regular files and symlinks with
    /// no open handle and a known place (directories are never chosen: invalidating a directory
    /// entry would also detach anything mounted on it).
    func evictionCandidates(limit: Int) -> [InodeLocation] {
        state.withLock { s in
            var out: [InodeLocation] = []
            out.reserveCapacity(min(limit, s.byNode.count))
            for inode in s.byNode.values where out.count < limit {
                guard inode.isRegular || inode.isSymlink, !(inode.content?.hasOpenHandles ?? false),
                      let location = inode.location.withLock({ $0 }) else { continue }
                out.append(location)
            }
            return out
        }
    }

    /// Rewrites the recorded location of every inode last seen in directory `parent`.
    func updateLocations(parent: UInt64, _ change: (inout InodeLocation) -> Void) {
        let all = state.withLock { Array($0.byNode.values) }
        for inode in all {
            inode.location.withLock { loc in
                if var l = loc, l.parent == parent {
                    change(&l)
                    loc = l
                }
            }
        }
    }
}
