import CFuse
import CPlatform

/// Creates a FUSE session and mounts it: the part of mounting that the engine's daemon
/// (FuseDaemon) and the read-only view's (ReadOnlyFuseDaemon) share.
enum FuseSessionMount {
    /// Blocks SIGTERM/SIGINT/SIGHUP first (threads started from here on inherit the mask; the
    /// daemon's run() unblocks them in the loop's thread only), checks the mountpoint, builds the
    /// argument vector from `options`, and mounts. Throws with a message for the operator.
    static func mount(_ mountpoint: String, options: MountOptions, ops: inout fuse_lowlevel_ops,
                      userdata: UnsafeMutableRawPointer) throws -> OpaquePointer {
        _ = tdefs_block_term_signals(1)
        try MountPreflight.check(mountpoint: mountpoint, options: options)
        var args = fuse_args(argc: 0, argv: nil, allocated: 0)
        defer { fuse_opt_free_args(&args) }
        for argument in options.argumentVector {
            guard fuse_opt_add_arg(&args, argument) == 0 else {
                throw FuseDaemonError("out of memory while building the FUSE arguments")
            }
        }
        guard let session = tdefs_fuse_session_new(&args, &ops, userdata) else {
            let extra = options.fuseOptions.filter { !$0.isEmpty }
            throw FuseDaemonError(extra.isEmpty
                ? "libfuse could not create a FUSE session (see the message from fuse above)"
                : "libfuse refused the mount options '\(extra.joined(separator: ","))' (see the message from fuse above)")
        }
        guard fuse_session_mount(session, mountpoint) == 0 else {
            fuse_session_destroy(session)
            throw FuseDaemonError(MountPreflight.mountFailureMessage(mountpoint: mountpoint, options: options))
        }
        return session
    }
}
