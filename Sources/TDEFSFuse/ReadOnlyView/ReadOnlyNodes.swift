import Glibc
import TDEFSCore

/// The inode table of a read-only view: FUSE node IDs to tree paths, with the kernel's lookup
/// counts, and a bounded cache of directory listings (the tree does not change while it is served,
/// so a listing stays true; the cache only bounds how often a directory is decrypted again).
final class ReadOnlyNodes: Sendable {
    static let rootNode: UInt64 = 1
    /// Listings kept at most; past it the cache starts over.
    static let cachedListings = 512

    private struct Node {
        let path: ReadOnlyTreePath
        var lookups: UInt64
    }

    private struct Table {
        var nodes: [UInt64: Node] = [ReadOnlyNodes.rootNode: Node(path: [], lookups: 1)]
        var byPath: [ReadOnlyTreePath: UInt64] = [[]: ReadOnlyNodes.rootNode]
        var next: UInt64 = 2
        var listings: [ReadOnlyTreePath: Listing] = [:]
    }

    /// A directory's entries, and where each name is among them (a lookup is not a scan).
    struct Listing {
        let entries: [ReadOnlyTreeEntry]
        let byName: [[UInt8]: Int]

        init(_ entries: [ReadOnlyTreeEntry]) {
            self.entries = entries
            var byName: [[UInt8]: Int] = [:]
            byName.reserveCapacity(entries.count)
            for (i, entry) in entries.enumerated() { byName[entry.name] = i }
            self.byName = byName
        }

        func entry(named name: [UInt8]) -> ReadOnlyTreeEntry? { byName[name].map { entries[$0] } }
    }

    private let table = LockedValue(Table())
    let tree: any ReadOnlyTree

    init(tree: any ReadOnlyTree) { self.tree = tree }

    func path(of node: UInt64) throws(Errno) -> ReadOnlyTreePath {
        guard let path = table.withLock({ $0.nodes[node]?.path }) else { throw Errno.ENOENT }
        return path
    }

    /// A directory's entries, from the cache or the tree.
    func listing(_ path: ReadOnlyTreePath) throws(Errno) -> Listing {
        if let cached = table.withLock({ $0.listings[path] }) { return cached }
        let listing = Listing(try tree.list(path))
        table.withLock { t in
            if t.listings.count >= Self.cachedListings { t.listings.removeAll(keepingCapacity: true) }
            t.listings[path] = listing
        }
        return listing
    }

    /// Finds `name` in the directory `parent` and counts one lookup of its node.
    func lookup(parent: UInt64, name: [UInt8]) throws(Errno) -> (node: UInt64, attributes: stat) {
        let directory = try path(of: parent)
        guard let entry = try listing(directory).entry(named: name) else { throw Errno.ENOENT }
        let child = directory + [entry.component]
        let node = table.withLock { t -> UInt64 in
            if let existing = t.byPath[child] {
                t.nodes[existing]!.lookups += 1
                return existing
            }
            let node = t.next
            t.next += 1
            t.nodes[node] = Node(path: child, lookups: 1)
            t.byPath[child] = node
            return node
        }
        return (node, entry.attributes)
    }

    func forget(_ node: UInt64, count: UInt64) {
        guard node != Self.rootNode else { return }
        table.withLock { t in
            guard var entry = t.nodes[node] else { return }
            entry.lookups -= min(count, entry.lookups)
            if entry.lookups == 0 {
                t.nodes[node] = nil
                t.byPath[entry.path] = nil
                t.listings[entry.path] = nil
            } else {
                t.nodes[node] = entry
            }
        }
    }
}
