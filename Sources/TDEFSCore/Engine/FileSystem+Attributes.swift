import CPlatform
import Glibc

extension FileSystem {
    public func getattr(_ node: UInt64) throws(Errno) -> stat {
        try attributes(of: try inodes.get(node))
    }

    public func setattr(_ node: UInt64, file: OpenFile?, _ changes: AttributeChanges) throws(Errno) -> stat {
        let inode = try inodes.get(node)
        if let file, let st = try deferMtime(inode, file, changes) { return st }
        if changes.uid != nil || changes.gid != nil {
            // uid_t.max (-1) leaves that id as it is.
            _ = try sys { fchownat(inode.fd, "", changes.uid ?? uid_t.max, changes.gid ?? gid_t.max,
                                  tdefs_AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) }
        }
        if let mode = changes.mode {
            if inode.isSymlink { throw Errno.ENOTSUP }
            _ = try sys { chmod(inode.procPath, mode & 0o7777) }
        }
        if let size = changes.size {
            guard inode.isRegular else { throw inode.isDirectory ? Errno.EISDIR : Errno.EINVAL }
            let handle: OpenFile
            if let file { handle = file } else { handle = try reopen(inode, flags: O_WRONLY) }
            try inode.content!.lock.withWriteLock { () throws(Errno) in
                guard let io = try contentIO(handle.fd, inode, createHeader: size > 0) else { return }
                try io.truncate(to: Int64(size))
            }
        }
        // The backing stat, when the times were left alone on a file nobody can reach.
        var untouched: stat?
        if changes.atime != nil || changes.mtime != nil {
            var times = [timespec](repeating: timespec(tv_sec: 0, tv_nsec: tdefs_UTIME_OMIT), count: 2)
            for (i, t) in [changes.atime, changes.mtime].enumerated() {
                switch t {
                case .none: break
                case .now?: times[i].tv_nsec = tdefs_UTIME_NOW
                case .set(let ts)?: times[i] = ts
                }
            }
            if inode.isSymlink {
                guard let loc = inode.location.withLock({ $0 }), let parent = try? inodes.get(loc.parent) else { throw Errno.EPERM }
                _ = try sys { utimensat(parent.fd, loc.backingName, times, AT_SYMLINK_NOFOLLOW) }
            } else if let content = inode.content {
                // Under the content lock, with a deferred mtime (see `deferMtime`): set with this
                // change, or replaced by it, so it never overwrites it later. Through the open file
                // when the kernel names one: no path walk through /proc.
                try content.lock.withWriteLock { () throws(Errno) in
                    let deferred = content.deferredMtime.withLock { $0 }
                    if changes.mtime == nil, let deferred { times[1] = deferred }
                    if let file { _ = try sys { futimens(file.fd, times) } }
                    else if let st = unreachableAttributes(inode, content) { untouched = st }
                    else { _ = try sys { utimensat(AT_FDCWD, inode.procPath, times, 0) } }
                    content.deferredMtime.withLock { $0 = nil }
                }
            } else {
                _ = try sys { utimensat(AT_FDCWD, inode.procPath, times, 0) }
            }
        }
        if var st = untouched {
            try translate(&st, inode: inode)
            return st
        }
        return try attributes(of: inode)
    }

    /// Keeps an mtime that only the kernel's times need (`mtimeMayWait`: the kernel writes back its
    /// own after cached writes, one setattr before each fsync) in memory until a full fsync or a
    /// close, and answers without reading the backing file's times. Setting it at once, or even
    /// reading the times, makes ext4 (multigrain timestamps, Linux 6.13+) dirty the inode at the
    /// next write, and every database commit's fdatasync then writes the inode block too.
    /// nil when the change is not of that kind.
    func deferMtime(_ inode: Inode, _ file: OpenFile, _ changes: AttributeChanges) throws(Errno) -> stat? {
        guard changes.mtimeMayWait, case .set(let mtime)? = changes.mtime, changes.atime == nil,
              changes.mode == nil, changes.uid == nil, changes.gid == nil, changes.size == nil,
              let content = inode.content else { return nil }
        content.lock.withWriteLock { content.deferredMtime.withLock { $0 = mtime } }
        var st = stat()
        _ = try sys { tdefs_fstat_untimed(file.fd, &st) }
        try translate(&st, inode: inode)
        st.st_mtim = mtime
        st.st_ctim = mtime
        return st
    }

    /// The backing stat of a file with no name left and no open handle (nobody can see its times
    /// any more), else nil. With the writeback cache the kernel sends one setattr of times after
    /// every unlink (it writes the new ctime back at once); for the last link of a file that is
    /// not open, it is answered without touching the backing file.
    func unreachableAttributes(_ inode: Inode, _ content: FileContent) -> stat? {
        guard !content.hasOpenHandles else { return nil }
        var st = stat()
        guard fstatat(inode.fd, "", &st, tdefs_AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0, st.st_nlink == 0 else { return nil }
        return st
    }

    public func statfs(_ node: UInt64) throws(Errno) -> statvfs {
        var s = statvfs()
        _ = try sys { fstatvfs(rootFD, &s) }
        s.f_namemax = UInt(NameCodec.maxNameBytes)
        return s
    }
}
