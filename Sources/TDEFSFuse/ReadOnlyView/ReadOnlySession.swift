import Logging
import TDEFSCore

/// What the callbacks of a read-only view share: the node table over the tree, the log, and
/// whether the mount has answered (for the readiness probe).
final class ReadOnlySession: Sendable {
    let nodes: ReadOnlyNodes
    let logger: Logger
    let rootAnswered = LockedValue(false)
    let stopped = LockedValue(false)

    init(tree: any ReadOnlyTree, logger: Logger) {
        self.nodes = ReadOnlyNodes(tree: tree)
        self.logger = logger
    }
}
