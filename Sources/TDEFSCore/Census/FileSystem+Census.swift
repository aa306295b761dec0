import CPlatform
import Glibc
import Synchronization

/// The walk that counts a mounted volume's census (see LiveCensus), on a thread of its own.
extension FileSystem {
    /// Counts the census in the background: at mount, and again when a rotation has ended.
    /// A recount asked for while a walk runs follows it.
    public func recountCensus() {
        let start: Bool = census.model.withLock { m in
            if m.stopped { return false }
            if m.running { m.again = true; return false }
            m.running = true
            return true
        }
        guard start else { return }
        // The walk's thread keeps the engine alive while it runs.
        let r = startDetachedThread { self.walkCensus() }
        if r != 0 {
            census.model.withLock { $0.running = false }
            logger.warning("cannot start the census walk (\(Errno(r))): tdefs status walks the tree itself")
        }
    }

    /// Ends a walk in progress (at unmount).
    func stopCensus() { census.model.withLock { $0.stopped = true } }

    /// One walk, repeated while recounts were asked for meanwhile.
    func walkCensus() {
        guard let root = try? inodes.get(Self.rootNode) else { return }
        while true {
            let started = tdefs_monotonic_ns()
            census.model.withLock { m in
                var w = LiveCensus.Walk(generation: m.generation)
                w.discovered.insert(root.key)
                w.queue = [Self.rootNode]
                m.walk = w
                m.again = false
            }
            while let node = census.model.withLock({ m in m.stopped ? nil : m.walk?.queue.popLast() }) {
                scanForCensus(node)
                if node != Self.rootNode { forget(node, count: 1) }
            }
            let again: Bool = census.model.withLock { m in
                guard !m.stopped, let w = m.walk else {
                    // Stopped: give back the lookups of what was still queued.
                    let left = m.walk?.queue ?? []
                    m.walk = nil
                    m.running = false
                    for node in left where node != Self.rootNode { inodes.forget(node, count: 1) }
                    return false
                }
                m.published = w.tally
                m.publishedGeneration = w.generation
                m.countedAt = Volume.timestamp()
                m.walk = nil
                if !m.again { m.running = false }
                return m.again
            }
            if let files = census.snapshot(currentEpoch: keyring.current.epoch).census?.filesPerEpoch.values.reduce(0, +) {
                let seconds = Double((tdefs_monotonic_ns() - started) / 1_000_000) / 1000
                logger.info("census: \(files) files counted in \(seconds) s")
            }
            if !again { return }
        }
    }

    /// Counts one directory's entries holding its namespace lock alone, and queues its
    /// subdirectories. A subdirectory whose name does not decrypt cannot be reached through the
    /// mount (nothing there can change meanwhile): it is counted by a plain walk at once.
    func scanForCensus(_ node: UInt64) {
        guard let dir = try? inodes.get(node), dir.isDirectory else { return }
        dir.namespaceLock.withWriteLock {
            var local = CensusTally()
            if node == Self.rootNode {
                local.add((try? DirectoryIV.read(directoryFD: dir.fd)).map { .directory($0.epoch) } ?? .unreadable)
            }
            var subdirectories: [String] = []
            do throws(Errno) {
                try BackingEntries.forEachEntry(directoryFD: dir.fd) { name, _, _ in
                    guard VolumeCensus.isUserEntry(name) else { return true }
                    let entry = CensusEntry.classify(parentFD: dir.fd, name: name, rootFD: rootFD)
                    local.add(entry)
                    if entry.isDirectory { subdirectories.append(name) }
                    return true
                }
            } catch {
                local.add(.unreadable)
            }
            var found: [(key: InodeKey, node: UInt64)] = []
            let iv = try? directoryIV(of: dir)
            let keys = iv.flatMap { try? nameKeys(for: $0) }
            for backing in subdirectories {
                if let iv, let keys, let name = plaintextName(ofBacking: backing, in: dir, iv: iv, keys: keys, quiet: true),
                   let entry = try? register(backing: backing, in: dir, name: name, waitingForRoom: false),
                   let sub = try? inodes.get(entry.node) {
                    found.append((sub.key, entry.node))
                    continue
                }
                let fd = openat(dir.fd, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if fd < 0 { local.add(.unreadable); continue }
                VolumeCensus.walkContents(fd, rootFD: rootFD, into: &local)
            }
            let duplicates: [UInt64] = census.model.withLock { m in
                guard m.walk != nil else { return found.map(\.node) }
                m.walk!.tally.merge(local)
                m.walk!.scanned.insert(dir.key)
                var extra: [UInt64] = []
                for f in found {
                    if m.walk!.discovered.insert(f.key).inserted { m.walk!.queue.append(f.node) } else { extra.append(f.node) }
                }
                return extra
            }
            for n in duplicates { forget(n, count: 1) }
        }
    }
}
