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
    /// temporaries and files, never for a user's entries.
    static func removeTree(dirFD: Int32, name: String) {
        if unlinkat(dirFD, name, 0) == 0 { return }
        let fd = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 {
            var children: [String] = []
            try? forEachEntry(directoryFD: fd) { n, _, _ in children.append(n); return true }
            for c in children { removeTree(dirFD: fd, name: c) }
            close(fd)
        }
        unlinkat(dirFD, name, AT_REMOVEDIR)
    }
}
