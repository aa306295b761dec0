import CFuse
import CPlatform
import Glibc
import TDEFSCore

/// The libfuse low-level callbacks: each decodes its request, calls the engine and answers with
/// the matching reply function, or with the engine's errno. Every request gets exactly one reply
/// (forget gets fuse_reply_none). The closures in `table()` capture nothing, so they convert to C
/// function pointers; state comes from the request's userdata and from `fi->fh`.
enum FuseOperations {
    /// How long the kernel may cache attributes and names.
    static let attrTimeout: Double = 1.0
    static let entryTimeout: Double = 1.0

    static func table(extendedAttributes: Bool) -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in FuseOperations.initialize(userdata, conn) }
        ops.destroy = { userdata in FuseOperations.destroy(userdata) }
        ops.lookup = { req, parent, name in FuseOperations.metered(req, .lookup) { FuseOperations.lookup(req, parent, name) } }
        ops.forget = { req, ino, nlookup in FuseOperations.metered(req, .forget) { FuseOperations.forget(req, ino, nlookup) } }
        ops.forget_multi = { req, count, forgets in FuseOperations.metered(req, .forget) { FuseOperations.forgetMulti(req, count, forgets) } }
        ops.getattr = { req, ino, fi in FuseOperations.metered(req, .getattr) { FuseOperations.getattr(req, ino, fi) } }
        ops.setattr = { req, ino, attr, toSet, fi in FuseOperations.metered(req, .setattr) { FuseOperations.setattr(req, ino, attr, toSet, fi) } }
        ops.readlink = { req, ino in FuseOperations.metered(req, .readlink) { FuseOperations.readlink(req, ino) } }
        ops.mknod = { req, parent, name, mode, rdev in FuseOperations.metered(req, .mknod) { FuseOperations.mknod(req, parent, name, mode, rdev) } }
        ops.mkdir = { req, parent, name, mode in FuseOperations.metered(req, .mkdir) { FuseOperations.mkdir(req, parent, name, mode) } }
        ops.unlink = { req, parent, name in FuseOperations.metered(req, .unlink) { FuseOperations.unlink(req, parent, name) } }
        ops.rmdir = { req, parent, name in FuseOperations.metered(req, .rmdir) { FuseOperations.rmdir(req, parent, name) } }
        ops.symlink = { req, target, parent, name in FuseOperations.metered(req, .symlink) { FuseOperations.symlink(req, target, parent, name) } }
        ops.rename = { req, parent, name, newParent, newName, flags in
            FuseOperations.metered(req, .rename) { FuseOperations.rename(req, parent, name, newParent, newName, flags) }
        }
        ops.link = { req, ino, newParent, newName in FuseOperations.metered(req, .link) { FuseOperations.link(req, ino, newParent, newName) } }
        ops.open = { req, ino, fi in FuseOperations.metered(req, .open) { FuseOperations.open(req, ino, fi) } }
        ops.create = { req, parent, name, mode, fi in FuseOperations.metered(req, .create) { FuseOperations.create(req, parent, name, mode, fi) } }
        ops.read = { req, ino, size, off, fi in FuseOperations.metered(req, .read) { FuseOperations.read(req, ino, size, off, fi) } }
        ops.write = { req, ino, buf, size, off, fi in FuseOperations.metered(req, .write) { FuseOperations.write(req, ino, buf, size, off, fi) } }
        ops.flush = { req, ino, fi in FuseOperations.metered(req, .flush) { FuseOperations.flush(req, ino, fi) } }
        ops.release = { req, ino, fi in FuseOperations.metered(req, .release) { FuseOperations.release(req, ino, fi) } }
        ops.fsync = { req, ino, datasync, fi in FuseOperations.metered(req, .fsync) { FuseOperations.fsync(req, ino, datasync, fi) } }
        ops.fallocate = { req, ino, mode, offset, length, fi in
            FuseOperations.metered(req, .fallocate) { FuseOperations.fallocate(req, ino, mode, offset, length, fi) }
        }
        ops.opendir = { req, ino, fi in FuseOperations.metered(req, .opendir) { FuseOperations.opendir(req, ino, fi) } }
        ops.readdir = { req, ino, size, off, fi in FuseOperations.metered(req, .readdir) { FuseOperations.readdir(req, ino, size, off, fi) } }
        ops.readdirplus = { req, ino, size, off, fi in FuseOperations.metered(req, .readdirplus) { FuseOperations.readdirplus(req, ino, size, off, fi) } }
        ops.releasedir = { req, ino, fi in FuseOperations.metered(req, .releasedir) { FuseOperations.releasedir(req, ino, fi) } }
        ops.fsyncdir = { req, ino, datasync, fi in FuseOperations.metered(req, .fsyncdir) { FuseOperations.fsyncdir(req, ino, datasync, fi) } }
        ops.statfs = { req, ino in FuseOperations.metered(req, .statfs) { FuseOperations.statfs(req, ino) } }
        // Left out with -o noxattr: libfuse then answers ENOSYS, and the kernel stops asking.
        if extendedAttributes {
            ops.setxattr = { req, ino, name, value, size, flags in
                FuseOperations.metered(req, .setxattr) { FuseOperations.setxattr(req, ino, name, value, size, flags) }
            }
            ops.getxattr = { req, ino, name, size in FuseOperations.metered(req, .getxattr) { FuseOperations.getxattr(req, ino, name, size) } }
            ops.listxattr = { req, ino, size in FuseOperations.metered(req, .listxattr) { FuseOperations.listxattr(req, ino, size) } }
            ops.removexattr = { req, ino, name in FuseOperations.metered(req, .removexattr) { FuseOperations.removexattr(req, ino, name) } }
        }
        // Deliberately absent: getlk/setlk/flock (the kernel keeps locks locally),
        // access (default_permissions), write_buf (no splice), ioctl, poll, bmap,
        // copy_file_range and lseek (ENOSYS makes the kernel fall back to its generic code).
        return ops
    }

    // MARK: - Session

    static func initialize(_ userdata: UnsafeMutableRawPointer?, _ conn: UnsafeMutablePointer<fuse_conn_info>?) {
        guard let conn else { return }
        CapabilityNegotiation.negotiate(conn)
        let state = session(userdata)
        state.writebackCache.store(CapabilityNegotiation.wants(conn, FUSE_CAP_WRITEBACK_CACHE), ordering: .releasing)
        state.kernelWritesBackAtClose.store(conn.pointee.proto_major > 7 || conn.pointee.proto_minor >= 35, ordering: .releasing)
        state.logger.debug("FUSE connection ready", metadata: [
            "protocol": "\(conn.pointee.proto_major).\(conn.pointee.proto_minor)",
            "max_write": "\(conn.pointee.max_write)",
            "max_readahead": "\(conn.pointee.max_readahead)",
            "async_read": "\(CapabilityNegotiation.wants(conn, FUSE_CAP_ASYNC_READ))",
            "atomic_o_trunc": "\(CapabilityNegotiation.wants(conn, FUSE_CAP_ATOMIC_O_TRUNC))",
            "writeback_cache": "\(CapabilityNegotiation.wants(conn, FUSE_CAP_WRITEBACK_CACHE))",
        ])
    }

    static func destroy(_ userdata: UnsafeMutableRawPointer?) {
        session(userdata).destroyOnce()
    }

    // MARK: - Names and attributes

    static func lookup(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
        let fs = engine(req)
        // A name that is not UTF-8 can never have been created here.
        guard let name = decodeName(name) else { return replyError(req, ENOENT) }
        do {
            replyEntry(req, try fs.lookup(parent: parent, name: name), fs)
        } catch where error.code == ENOENT {
            replyNegativeEntry(req)
        } catch {
            replyError(req, error.code)
        }
    }

    /// "No such name", cached by the kernel for the entry timeout (a reply with node 0): every
    /// change to the tree comes through this mount, which invalidates the cached miss when it
    /// creates the name. Saves the second LOOKUP of a file being created (a stat, then the open
    /// with O_CREAT, each ask first) and its backing openat.
    /// Counted in the metrics as the ENOENT answer it stands for.
    static func replyNegativeEntry(_ req: fuse_req_t?) {
        tdefs_note_reply_errno(ENOENT)
        var param = fuse_entry_param()
        param.ino = 0
        param.entry_timeout = entryTimeout
        _ = fuse_reply_entry(req, &param)
    }

    static func forget(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ nlookup: UInt64) {
        engine(req).forget(ino, count: nlookup)
        fuse_reply_none(req)
    }

    static func forgetMulti(_ req: fuse_req_t?, _ count: Int, _ forgets: UnsafeMutablePointer<fuse_forget_data>?) {
        let fs = engine(req)
        if let forgets {
            for i in 0..<count {
                fs.forget(forgets[i].ino, count: forgets[i].nlookup)
            }
        }
        fuse_reply_none(req)
    }

    static func getattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        let state = session(req)
        do {
            var attr = try state.fileSystem.getattr(ino)
            _ = fuse_reply_attr(req, &attr, attrTimeout)
        } catch {
            replyError(req, error.code)
        }
        if ino == FileSystem.rootNode { state.rootAnswered.store(true, ordering: .releasing) }
    }

    static func setattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ attr: UnsafeMutablePointer<stat>?,
                        _ toSet: Int32, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        let fs = engine(req)
        guard let attr else { return replyError(req, EINVAL) }
        var changes = attributeChanges(attr.pointee, toSet)
        // fi is there when the change comes through an open file (ftruncate, and the kernel's
        // write-back of its own times after cached writes).
        let file = fi.flatMap { Handles.borrow($0.pointee.fh, as: OpenFile.self) }
        changes.mtimeMayWait = file != nil && session(req).writebackCache.load(ordering: .acquiring)
        do {
            var result = try fs.setattr(ino, file: file, changes)
            _ = fuse_reply_attr(req, &result, attrTimeout)
        } catch {
            replyError(req, error.code)
        }
    }

    /// Translates setattr's `to_set` bits. FUSE_SET_ATTR_CTIME comes with the writeback cache
    /// (the kernel's own mtime/ctime after cached writes): the backing cannot take a ctime, and
    /// changing the mtime sets the backing ctime anyway. FUSE_SET_ATTR_KILL_SUID/SGID only come with
    /// handle_killpriv_v2 (not asked for); without it the kernel sends the mode change itself.
    static func attributeChanges(_ attr: stat, _ toSet: Int32) -> AttributeChanges {
        var changes = AttributeChanges()
        if toSet & FUSE_SET_ATTR_MODE != 0 { changes.mode = attr.st_mode }
        if toSet & FUSE_SET_ATTR_UID != 0 { changes.uid = attr.st_uid }
        if toSet & FUSE_SET_ATTR_GID != 0 { changes.gid = attr.st_gid }
        if toSet & FUSE_SET_ATTR_SIZE != 0 { changes.size = UInt64(max(attr.st_size, 0)) }
        if toSet & FUSE_SET_ATTR_ATIME_NOW != 0 {
            changes.atime = .now
        } else if toSet & FUSE_SET_ATTR_ATIME != 0 {
            changes.atime = .set(attr.st_atim)
        }
        if toSet & FUSE_SET_ATTR_MTIME_NOW != 0 {
            changes.mtime = .now
        } else if toSet & FUSE_SET_ATTR_MTIME != 0 {
            changes.mtime = .set(attr.st_mtim)
        }
        return changes
    }

    static func readlink(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        do {
            let target = try engine(req).readlink(ino)
            _ = target.withCString { fuse_reply_readlink(req, $0) }
        } catch {
            replyError(req, error.code)
        }
    }

    static func mknod(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?,
                      _ mode: mode_t, _ rdev: dev_t) {
        let fs = engine(req)
        guard let name = decodeName(name) else { return replyError(req, EILSEQ) }
        do {
            replyEntry(req, try fs.mknod(parent: parent, name: name, mode: mode, rdev: rdev,
                                         context: context(req)), fs)
        } catch {
            replyError(req, error.code)
        }
    }

    static func mkdir(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?, _ mode: mode_t) {
        let fs = engine(req)
        guard let name = decodeName(name) else { return replyError(req, EILSEQ) }
        do {
            replyEntry(req, try fs.mkdir(parent: parent, name: name, mode: mode, context: context(req)), fs)
        } catch {
            replyError(req, error.code)
        }
    }

    static func unlink(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
        guard let name = decodeName(name) else { return replyError(req, ENOENT) }
        do {
            try engine(req).unlink(parent: parent, name: name)
            replyOK(req)
        } catch {
            replyError(req, error.code)
        }
    }

    static func rmdir(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
        guard let name = decodeName(name) else { return replyError(req, ENOENT) }
        do {
            try engine(req).rmdir(parent: parent, name: name)
            replyOK(req)
        } catch {
            replyError(req, error.code)
        }
    }

    static func symlink(_ req: fuse_req_t?, _ target: UnsafePointer<CChar>?, _ parent: fuse_ino_t,
                        _ name: UnsafePointer<CChar>?) {
        let fs = engine(req)
        guard let name = decodeName(name), let target = decodeName(target) else {
            return replyError(req, EILSEQ)
        }
        do {
            replyEntry(req, try fs.symlink(target: target, parent: parent, name: name, context: context(req)), fs)
        } catch {
            replyError(req, error.code)
        }
    }

    static func rename(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?,
                       _ newParent: fuse_ino_t, _ newName: UnsafePointer<CChar>?, _ flags: UInt32) {
        guard let name = decodeName(name) else { return replyError(req, ENOENT) }
        guard let newName = decodeName(newName) else { return replyError(req, EILSEQ) }
        do {
            try engine(req).rename(parent: parent, name: name, newParent: newParent, newName: newName, flags: flags)
            replyOK(req)
        } catch {
            replyError(req, error.code)
        }
    }

    static func link(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ newParent: fuse_ino_t, _ newName: UnsafePointer<CChar>?) {
        let fs = engine(req)
        guard let newName = decodeName(newName) else { return replyError(req, EILSEQ) }
        do {
            replyEntry(req, try fs.link(ino, newParent: newParent, newName: newName), fs)
        } catch {
            replyError(req, error.code)
        }
    }

    // MARK: - Files

    static func open(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        let fs = engine(req)
        guard let fi else { return replyError(req, EINVAL) }
        do {
            let file = try fs.open(ino, flags: engineFlags(req, fi.pointee.flags))
            fi.pointee.fh = Handles.store(file)
            tdefs_fi_set_direct_io(fi, 0)
            // Only this daemon changes file contents, so cached pages stay right across opens.
            tdefs_fi_set_keep_cache(fi, 1)
            if fuse_reply_open(req, fi) != 0 {
                // The open was interrupted: the kernel will never release this handle.
                fs.release(file)
                _ = Handles.take(fi.pointee.fh, as: OpenFile.self)
            }
        } catch {
            replyError(req, error.code)
        }
    }

    static func create(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?,
                       _ mode: mode_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        let fs = engine(req)
        guard let fi else { return replyError(req, EINVAL) }
        guard let name = decodeName(name) else { return replyError(req, EILSEQ) }
        do {
            let (entry, file) = try fs.create(parent: parent, name: name, mode: mode,
                                              flags: engineFlags(req, fi.pointee.flags), context: context(req))
            fi.pointee.fh = Handles.store(file)
            tdefs_fi_set_direct_io(fi, 0)
            tdefs_fi_set_keep_cache(fi, 1)
            var param = entryParam(entry)
            if fuse_reply_create(req, &param, fi) != 0 {
                fs.release(file)
                _ = Handles.take(fi.pointee.fh, as: OpenFile.self)
                fs.forget(entry.node, count: 1)
            }
        } catch {
            replyError(req, error.code)
        }
    }

    /// The open flags the engine acts on. With the writeback cache the kernel gives every write
    /// its final offset, O_APPEND ones included (a page written back later must land where it
    /// belongs, not at the end).
    static func engineFlags(_ req: fuse_req_t?, _ flags: Int32) -> Int32 {
        session(req).writebackCache.load(ordering: .acquiring) ? flags & ~O_APPEND : flags
    }

    static func read(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ off: off_t,
                     _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        let fs = engine(req)
        guard let file = openFile(fi) else { return replyError(req, EBADF) }
        let replied: Void? = ReplyBuffers.withBuffer(count: size) { buffer in
            do throws(Errno) {
                let count = min(max(try fs.read(file, offset: Int64(off), into: buffer), 0), buffer.count)
                session(req).metrics?.read(bytes: count)
                _ = fuse_reply_buf(req, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), count)
            } catch {
                replyError(req, error.code)
            }
        }
        if replied == nil { replyError(req, ENOMEM) }
    }

    static func write(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ buf: UnsafePointer<CChar>?, _ size: Int,
                      _ off: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        let fs = engine(req)
        guard let file = openFile(fi) else { return replyError(req, EBADF) }
        do {
            let count = try fs.write(file, offset: Int64(off), from: UnsafeRawBufferPointer(start: buf, count: size),
                                     keepingMtime: session(req).writebackCache.load(ordering: .acquiring))
            session(req).metrics?.wrote(bytes: count)
            _ = fuse_reply_write(req, count)
        } catch {
            replyError(req, error.code)
        }
    }

    /// Nothing to do at close. Kernels since 5.16 write the cached pages back and report their
    /// errors to close() before they would send FLUSH, with or without one: refused there, so the
    /// kernel stops sending one per close. Older kernels skip that writeback once FLUSH is
    /// refused, so they get an answer.
    static func flush(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        if session(req).kernelWritesBackAtClose.load(ordering: .acquiring) { replyError(req, ENOSYS) } else { replyOK(req) }
    }

    static func release(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        if let fi, let file = Handles.take(fi.pointee.fh, as: OpenFile.self) {
            engine(req).release(file)
            fi.pointee.fh = 0
        }
        replyOK(req)
    }

    static func fsync(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ datasync: Int32, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        guard let file = openFile(fi) else { return replyError(req, EBADF) }
        do {
            try engine(req).fsync(file, dataOnly: datasync != 0)
            replyOK(req)
        } catch {
            replyError(req, error.code)
        }
    }

    static func fallocate(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ mode: Int32, _ offset: off_t, _ length: off_t,
                          _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        guard let file = openFile(fi) else { return replyError(req, EBADF) }
        do {
            try engine(req).fallocate(file, mode: mode, offset: Int64(offset), length: Int64(length))
            replyOK(req)
        } catch {
            replyError(req, error.code)
        }
    }

    // MARK: - Directories

    static func opendir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        let fs = engine(req)
        guard let fi else { return replyError(req, EINVAL) }
        do {
            let dir = try fs.opendir(ino)
            fi.pointee.fh = Handles.store(dir)
            if fuse_reply_open(req, fi) != 0 {
                fs.releasedir(dir)
                _ = Handles.take(fi.pointee.fh, as: OpenDirectory.self)
            }
        } catch {
            replyError(req, error.code)
        }
    }

    static func readdir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ off: off_t,
                        _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        replyListing(req, size, off, fi) { fs, dir, entry, base, remaining in
            // Only st_ino and the type bits of st_mode are used (DTTOIF: type << 12).
            var attr = stat()
            attr.st_ino = ino_t(entry.inode)
            attr.st_mode = mode_t(entry.type) << 12
            let needed = entry.name.withCString { fuse_add_direntry(req, base, remaining, $0, &attr, off_t(entry.offset)) }
            return needed <= remaining ? needed : nil
        }
    }

    /// Like readdir, with each entry's attributes; every entry that reaches the kernel counts one
    /// lookup ("." and ".." carry node 0: no attributes, no lookup).
    static func readdirplus(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ off: off_t,
                            _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        var sent: [UInt64] = []
        replyListing(req, size, off, fi) { fs, dir, entry, base, remaining in
            var param = fuse_entry_param()
            var looked: Entry?
            if !entry.isDotOrDotDot, let e = try? fs.lookup(entry, in: dir) {
                looked = e
                param = entryParam(e)
            } else {
                param.attr.st_ino = ino_t(entry.inode)
                param.attr.st_mode = mode_t(entry.type) << 12
            }
            let needed = entry.name.withCString { fuse_add_direntry_plus(req, base, remaining, $0, &param, off_t(entry.offset)) }
            if needed > remaining {
                if let looked { fs.forget(looked.node, count: 1) }
                return nil
            }
            if let looked { sent.append(looked.node) }
            return needed
        } onReplyFailed: { fs in
            // The kernel never saw these entries: it will send no FORGET for them.
            for node in sent { fs.forget(node, count: 1) }
        }
    }

    /// Fills a reply buffer of at most `size` bytes with entries after cookie `off`; `add` puts one
    /// entry at `base` and returns its size, or nil when it does not fit (the listing stops there).
    static func replyListing(_ req: fuse_req_t?, _ size: Int, _ off: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?,
                             _ add: (FileSystem, OpenDirectory, DirectoryEntry, UnsafeMutablePointer<CChar>, Int) -> Int?,
                             onReplyFailed: (FileSystem) -> Void = { _ in }) {
        let fs = engine(req)
        guard let dir = openDirectory(fi) else { return replyError(req, EBADF) }
        let replied: Void? = ReplyBuffers.withBuffer(count: size) { buffer in
            do throws(Errno) {
                let entries = try fs.readdir(dir, offset: Int64(off))
                guard let base = buffer.baseAddress?.assumingMemoryBound(to: CChar.self) else {
                    _ = fuse_reply_buf(req, nil, 0)
                    return
                }
                var used = 0
                for entry in entries {
                    guard let n = add(fs, dir, entry, base + used, buffer.count - used) else { break }
                    used += n
                }
                if fuse_reply_buf(req, base, used) != 0 { onReplyFailed(fs) }
            } catch {
                replyError(req, error.code)
            }
        }
        if replied == nil { replyError(req, ENOMEM) }
    }

    static func releasedir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        if let fi, let dir = Handles.take(fi.pointee.fh, as: OpenDirectory.self) {
            engine(req).releasedir(dir)
            fi.pointee.fh = 0
        }
        replyOK(req)
    }

    static func fsyncdir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ datasync: Int32, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        guard let dir = openDirectory(fi) else { return replyError(req, EBADF) }
        do {
            try engine(req).fsyncdir(dir, dataOnly: datasync != 0)
            replyOK(req)
        } catch {
            replyError(req, error.code)
        }
    }

    static func statfs(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        do {
            let state = session(req)
            var info = try state.fileSystem.statfs(ino)
            _ = fuse_reply_statfs(req, &info)
            state.watchdog.withLock { $0 }?.answeredStatfs(fromThread: fuse_req_ctx(req).pointee.pid)
        } catch {
            replyError(req, error.code)
        }
    }

    // MARK: - Extended attributes

    static func setxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ name: UnsafePointer<CChar>?,
                         _ value: UnsafePointer<CChar>?, _ size: Int, _ flags: Int32) {
        guard let name = decodeName(name) else { return replyError(req, EOPNOTSUPP) }
        do {
            try engine(req).setxattr(ino, name: name, value: UnsafeRawBufferPointer(start: value, count: size),
                                     flags: flags)
            replyOK(req)
        } catch {
            replyError(req, error.code)
        }
    }

    static func getxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ name: UnsafePointer<CChar>?, _ size: Int) {
        // Only user.* attributes exist. The kernel asks for security.capability before every
        // write and `ls -l` for ACLs: answer those without building a String.
        guard let name, strncmp(name, "user.", 5) == 0 else { return replyError(req, ENODATA) }
        guard let name = decodeName(name) else { return replyError(req, ENODATA) }
        do {
            replyXattr(req, try engine(req).getxattr(ino, name: name), size: size)
        } catch {
            replyError(req, error.code)
        }
    }

    static func listxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int) {
        do {
            var list: [UInt8] = []
            for name in try engine(req).listxattr(ino) {
                list.append(contentsOf: name.utf8)
                list.append(0)
            }
            replyXattr(req, list, size: size)
        } catch {
            replyError(req, error.code)
        }
    }

    static func removexattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
        guard let name = decodeName(name) else { return replyError(req, ENODATA) }
        do {
            try engine(req).removexattr(ino, name: name)
            replyOK(req)
        } catch {
            replyError(req, error.code)
        }
    }

    /// size 0 asks for the size; a buffer too small is ERANGE.
    static func replyXattr(_ req: fuse_req_t?, _ value: [UInt8], size: Int) {
        if size == 0 {
            _ = fuse_reply_xattr(req, value.count)
        } else if value.count > size {
            replyError(req, ERANGE)
        } else {
            _ = value.withUnsafeBytes {
                fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
            }
        }
    }

    // MARK: - Helpers

    @inline(__always)
    static func session(_ userdata: UnsafeMutableRawPointer?) -> SessionState {
        Unmanaged<SessionState>.fromOpaque(UnsafeRawPointer(userdata!)).takeUnretainedValue()
    }

    @inline(__always)
    static func session(_ req: fuse_req_t?) -> SessionState {
        session(fuse_req_userdata(req))
    }

    @inline(__always)
    static func engine(_ req: fuse_req_t?) -> FileSystem {
        session(req).fileSystem
    }

    static func context(_ req: fuse_req_t?) -> RequestContext {
        let ctx = fuse_req_ctx(req).pointee
        return RequestContext(uid: ctx.uid, gid: ctx.gid, pid: ctx.pid)
    }

    /// The kernel hands names as bytes; the engine takes Strings. Bytes that are not UTF-8 are
    /// refused rather than repaired, so that two different names never become one.
    @inline(__always)
    static func decodeName(_ name: UnsafePointer<CChar>?) -> String? {
        guard let name else { return nil }
        return String(validatingCString: name)
    }

    @inline(__always)
    static func openFile(_ fi: UnsafeMutablePointer<fuse_file_info>?) -> OpenFile? {
        guard let fi else { return nil }
        return Handles.borrow(fi.pointee.fh, as: OpenFile.self)
    }

    @inline(__always)
    static func openDirectory(_ fi: UnsafeMutablePointer<fuse_file_info>?) -> OpenDirectory? {
        guard let fi else { return nil }
        return Handles.borrow(fi.pointee.fh, as: OpenDirectory.self)
    }

    static func entryParam(_ entry: Entry) -> fuse_entry_param {
        var param = fuse_entry_param()
        param.ino = entry.node
        param.generation = 0
        param.attr = entry.attr
        param.attr_timeout = attrTimeout
        param.entry_timeout = entryTimeout
        return param
    }

    /// Answers a lookup-like request. If the kernel did not take the reply (the request was
    /// interrupted), the lookup count the engine added for it is given back.
    static func replyEntry(_ req: fuse_req_t?, _ entry: Entry, _ fs: FileSystem) {
        var param = entryParam(entry)
        if fuse_reply_entry(req, &param) != 0 {
            fs.forget(entry.node, count: 1)
        }
    }

    /// Answers with an errno; a code that is not a positive errno becomes EIO, never success.
    @inline(__always)
    static func replyError(_ req: fuse_req_t?, _ code: Int32) {
        tdefs_note_reply_errno(code > 0 ? code : EIO)
        _ = fuse_reply_err(req, code > 0 ? code : EIO)
    }

    /// The success reply of requests that return no data (fuse_reply_err with 0).
    @inline(__always)
    static func replyOK(_ req: fuse_req_t?) {
        _ = fuse_reply_err(req, 0)
    }
}
