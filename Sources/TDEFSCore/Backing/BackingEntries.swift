import Glibc

/// Reading backing directories through descriptors (never by path).
enum BackingEntries {
    /// Calls `body(name, inode, d_type)` for every entry except "." and ".."; stop by returning false.
    static func forEachEntry(directoryFD: Int32, _ body: (String, UInt64, UInt8) throws(Errno) -> Bool) throws(Errno) {
        let fd = try sys { openat(directoryFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard let dir = fdopendir(fd) else {
            let e = Errno.current
            close(fd)
            throw e
        }
        defer { closedir(dir) }
        while true {
            errno = 0
            guard let ent = readdir(dir) else {
                if errno != 0 { throw Errno.current }
                return
            }
            let name = withUnsafePointer(to: &ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            if try !body(name, UInt64(ent.pointee.d_ino), ent.pointee.d_type) { return }
        }
    }

    /// Removes a backing entry and, for a directory, everything below it. Only for tdefs' own
    /// temporaries and files, never for a user's entries. Iterative (see walkTree): a planted
    /// chain of directories of any depth cannot overflow the stack.
    static func removeTree(dirFD: Int32, name: String) {
        if unlinkat(dirFD, name, 0) == 0 { return }
        let fd = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 {
            walkTree(below: fd, visit: { dir, child, st in
                if (st.st_mode & S_IFMT) == S_IFDIR { return true }
                unlinkat(dir, child, 0)
                return false
            }, leave: { dir, child in unlinkat(dir, child, AT_REMOVEDIR) })
            close(fd)
        }
        unlinkat(dirFD, name, AT_REMOVEDIR)
    }

    /// Visits every entry below directory `rootFD`, depth first, without recursion and with at
    /// most three descriptors open, however deep the tree (an attacker who can write the backing
    /// directory chooses its depth). `visit(dirFD, name, lstat)` returns whether to descend (only
    /// directories are descended into, never through a symlink); `leave(dirFD, name)` follows
    /// once everything below a directory was visited. The way back up goes through "..", checked
    /// against the device and inode recorded on the way down: when the tree was moved meanwhile,
    /// the walk stops there and returns false.
    @discardableResult
    static func walkTree(below rootFD: Int32, visit: (_ dirFD: Int32, _ name: String, _ st: stat) -> Bool,
                         leave: (_ dirFD: Int32, _ name: String) -> Void = { _, _ in }) -> Bool {
        struct Level {
            let name: String
            let id: FileID
            var pending: [String]
        }
        func level(_ fd: Int32, _ name: String) -> Level? {
            guard let id = FileID(fd) else { return nil }
            var names: [String] = []
            try? forEachEntry(directoryFD: fd) { n, _, _ in names.append(n); return true }
            return Level(name: name, id: id, pending: names)
        }
        var cur = openat(rootFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard cur >= 0 else { return false }
        guard let root = level(cur, "") else { close(cur); return false }
        var stack = [root]
        while true {
            if let name = stack[stack.count - 1].pending.popLast() {
                var st = stat()
                guard fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0,
                      visit(cur, name, st), (st.st_mode & S_IFMT) == S_IFDIR else { continue }
                let sub = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard sub >= 0 else { continue }
                guard let next = level(sub, name) else { close(sub); continue }
                close(cur)
                cur = sub
                stack.append(next)
                continue
            }
            let done = stack.removeLast()
            guard let parent = stack.last else { close(cur); return true }
            let up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(cur)
            guard up >= 0, FileID(up) == parent.id else {
                if up >= 0 { close(up) }
                return false
            }
            cur = up
            leave(cur, done.name)
        }
    }

    /// A directory's identity on the way down a walk.
    struct FileID: Equatable {
        let dev: UInt64
        let ino: UInt64
        init?(_ fd: Int32) {
            var st = stat()
            guard fstat(fd, &st) == 0 else { return nil }
            dev = UInt64(st.st_dev)
            ino = UInt64(st.st_ino)
        }
    }
}
