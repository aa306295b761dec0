import CFuse
import CPlatform
import TDEFSCore

extension FuseOperations {
    /// Serves one request through `body` and, when the mount has metrics, counts it: its operation,
    /// the time until `body` returned (every handler answers before it returns), and the errno of
    /// its error answer (replyError notes it in a thread-local). The session is read before `body`:
    /// the answer frees the request.
    @inline(__always)
    static func metered(_ req: fuse_req_t?, _ op: RequestKind, _ body: () -> Void) {
        guard let metrics = session(req).metrics else { return body() }
        let start = VolumeMetrics.now()
        _ = tdefs_take_reply_errno()
        body()
        metrics.finish(op, startedAt: start, errno: tdefs_take_reply_errno())
    }
}
