import Glibc
import Synchronization

/// The census of a mounted volume (files, directories and symlinks per key epoch, damaged headers),
/// kept by its daemon so that `tdefs status` and the metrics need not walk the backing tree.
///
/// It is counted once by a walk in the background after the mount, and kept up to date by the
/// engine: every change of a directory's entries through the mount (create, mkdir, symlink, link,
/// unlink, rmdir, rename over an entry) adds or takes away what that entry counts as. While a walk
/// runs, a change in directory D is applied to the walk's tally only if D was already scanned:
/// the walk scans D holding D's namespace lock alone, and every change in D holds it shared, so
/// each change is seen exactly once, by the scan or by the tally. A directory moved from an
/// unscanned directory into a scanned one is queued for the walk.
///
/// What the census cannot see: headers rewritten behind the daemon (an online `rotate`, which
/// rewraps headers in the CLI) and changes made to the backing directory by other programs. Online
/// rotation marks the census stale and recounts when it ends; see docs/cli.md.
public final class LiveCensus: Sendable {
    public enum State: String, Sendable {
        /// The first walk since the mount has not finished: no counts yet.
        case counting
        /// Counted, and kept up to date since.
        case current
        /// Counted, but headers were rewritten behind the daemon since (a rotation): recounted when
        /// the rotation ends.
        case stale
    }

    public struct Snapshot: Sendable {
        public var state: State
        /// nil while the first walk runs.
        public var census: FileCensus?
        /// When the walk the counts come from ended (UTC, ISO 8601).
        public var countedAt: String?
        /// A walk is running (stale counts are then about to be replaced).
        public var recounting: Bool
    }

    struct Walk {
        var tally = CensusTally()
        var scanned: Set<InodeKey> = []
        var discovered: Set<InodeKey> = []
        /// Directories still to scan, as nodes holding one lookup each.
        var queue: [UInt64] = []
        var generation: Int
    }

    struct Model {
        var published: CensusTally?
        var walk: Walk?
        var countedAt: String?
        /// Bumped whenever headers may have changed behind the daemon.
        var generation = 0
        var publishedGeneration = -1
        /// A recount was asked for while a walk ran.
        var again = false
        var running = false
        var stopped = false
    }

    let model = LockedValue(Model())

    init() {}

    public func snapshot(currentEpoch: UInt32) -> Snapshot {
        model.withLock { m in
            guard let p = m.published else { return Snapshot(state: .counting, census: nil, countedAt: nil, recounting: true) }
            return Snapshot(state: m.publishedGeneration == m.generation ? .current : .stale,
                            census: p.census(currentEpoch: currentEpoch), countedAt: m.countedAt, recounting: m.running)
        }
    }

    /// Headers are about to change behind the daemon (online rotation): the counts are stale until
    /// the next walk that starts after this.
    public func markStale() { model.withLock { $0.generation += 1 } }

    // MARK: Changes (called by the engine holding the directory's namespace lock shared)

    /// Whether a change in `dir` is counted at all now: the entry must then be classified.
    func counts(in dir: Inode) -> Bool {
        model.withLock { m in m.published != nil || m.walk?.scanned.contains(dir.key) == true }
    }

    /// What the entry `name` of `dir` counts as, if a change there is counted.
    func entry(in dir: Inode, name: String, rootFD: Int32) -> CensusEntry? {
        counts(in: dir) ? CensusEntry.classify(parentFD: dir.fd, name: name, rootFD: rootFD) : nil
    }

    /// The same, from the caller's fstatat (AT_SYMLINK_NOFOLLOW) of the entry.
    func entry(in dir: Inode, name: String, _ st: stat, rootFD: Int32) -> CensusEntry? {
        counts(in: dir) ? CensusEntry.classify(parentFD: dir.fd, name: name, st, rootFD: rootFD) : nil
    }

    func added(_ entry: CensusEntry?, in dir: Inode) { apply(entry, 1, in: dir) }

    func removed(_ entry: CensusEntry?, in dir: Inode) { apply(entry, -1, in: dir) }

    private func apply(_ entry: CensusEntry?, _ sign: Int, in dir: Inode) {
        guard let entry else { return }
        model.withLock { m in
            m.published?.add(entry, sign)
            if m.walk?.scanned.contains(dir.key) == true { m.walk?.tally.add(entry, sign) }
        }
    }

    /// A new, empty directory in `parent`: nothing in it for a walk to scan.
    func madeDirectory(_ entry: CensusEntry, key: InodeKey, in parent: Inode) {
        model.withLock { m in
            m.published?.add(entry)
            guard m.walk?.scanned.contains(parent.key) == true else { return }
            m.walk?.tally.add(entry)
            m.walk?.scanned.insert(key)
            m.walk?.discovered.insert(key)
        }
    }

    /// The entry moved from `from` to `to` (another directory). `entry` is needed (and classified by
    /// the caller) only when `needsEntry(from:to:)` says so.
    func needsEntry(from: Inode, to: Inode) -> Bool {
        model.withLock { m in
            guard let w = m.walk else { return false }
            return w.scanned.contains(from.key) != w.scanned.contains(to.key)
        }
    }

    func moved(_ entry: CensusEntry?, from: Inode, to: Inode) {
        guard let entry else { return }
        model.withLock { m in
            guard let w = m.walk else { return }
            if w.scanned.contains(from.key) { m.walk?.tally.add(entry, -1) }
            if w.scanned.contains(to.key) { m.walk?.tally.add(entry, 1) }
        }
    }

    /// A directory (`key`) moved into `to`: if a walk has scanned `to` but has not yet found the
    /// directory, it would never see its contents; `register` gives a node (one lookup) to queue.
    func movedDirectory(key: InodeKey, into to: Inode, register: () -> UInt64?) {
        model.withLock { m in
            guard let w = m.walk, w.scanned.contains(to.key), !w.discovered.contains(key), let node = register() else { return }
            m.walk?.discovered.insert(key)
            m.walk?.queue.append(node)
        }
    }
}

extension CensusTally {
    mutating func merge(_ o: CensusTally) {
        for (e, n) in o.files { files[e, default: 0] += n }
        for (e, n) in o.directories { directories[e, default: 0] += n }
        for (e, n) in o.symlinks { symlinks[e, default: 0] += n }
        headerless += o.headerless
        damagedHeaders += o.damagedHeaders
        unreadable += o.unreadable
    }
}
