import Glibc

/// Who asked: the caller's credentials as the kernel reports them.
public struct RequestContext: Sendable {
    public var uid: uid_t
    public var gid: gid_t
    public var pid: pid_t
    public init(uid: uid_t, gid: gid_t, pid: pid_t) { self.uid = uid; self.gid = gid; self.pid = pid }
    public static var daemon: RequestContext { RequestContext(uid: getuid(), gid: getgid(), pid: getpid()) }
}

/// A looked-up name: the node the kernel will refer to it by, and its attributes.
public struct Entry {
    public var node: UInt64
    public var attr: stat
}

/// The attribute changes of one setattr request; nil fields stay as they are.
public struct AttributeChanges {
    public enum Time { case now, set(timespec) }
    public var mode: mode_t?
    public var uid: uid_t?
    public var gid: gid_t?
    public var size: UInt64?
    public var atime: Time?
    public var mtime: Time?
    /// The kernel keeps the file's times itself (writeback cache): an mtime it sends through an
    /// open handle may reach the backing file later, at a full fsync or when a handle closes.
    public var mtimeMayWait = false
    public init() {}
}

/// One directory entry for readdir; `offset` is the cookie of the entry after it.
public struct DirectoryEntry: Sendable {
    public var name: String
    public var inode: UInt64
    public var type: UInt8
    public var offset: Int64
    /// The entry's name in the backing directory (empty for "." and "..").
    var backingName: String = ""

    public var isDotOrDotDot: Bool { name == "." || name == ".." }
}

/// Options the daemon decides at mount time.
public struct EngineOptions: Sendable {
    /// Set owners of new objects to the caller (needed when the daemon runs as root for others).
    public var chownToCaller: Bool
    /// The volume's formatVersion: new files and directories are made in it (a v1 volume keeps
    /// making v1 files, which a v1-only release still reads; see FormatVersions).
    public var formatVersion: Int
    /// The epoch tdefs.conf records a re-encryption towards (rotation state "reencrypting"): only
    /// re-key records towards it are accepted (RekeyRecord). reencryptTree sets it too.
    public var reencryptTarget: UInt32?
    public init(chownToCaller: Bool = getuid() == 0, formatVersion: Int = FormatVersions.newestVolume,
                reencryptTarget: UInt32? = nil) {
        self.chownToCaller = chownToCaller; self.formatVersion = formatVersion; self.reencryptTarget = reencryptTarget
    }
}
