import CFuse
import Glibc
import TDEFSCore

/// The libfuse low-level callbacks of a read-only view: names, attributes, reading, links and
/// user.* attributes come from the `ReadOnlyTree`; everything that would change the tree is
/// absent, so libfuse answers it with ENOSYS and the kernel's read-only mount with EROFS before.
/// Like FuseOperations, the closures capture nothing; state comes from the request's userdata.
enum ReadOnlyFuseOperations {
    /// The tree does not change while it is served: the kernel may cache for long.
    static let timeout: Double = 3600

    static func table() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.lookup = { req, parent, name in ReadOnlyFuseOperations.lookup(req, parent, name) }
        ops.forget = { req, ino, nlookup in
            ReadOnlyFuseOperations.nodes(req).forget(ino, count: nlookup)
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, forgets in
            let nodes = ReadOnlyFuseOperations.nodes(req)
            if let forgets {
                for i in 0..<count { nodes.forget(forgets[i].ino, count: forgets[i].nlookup) }
            }
            fuse_reply_none(req)
        }
        ops.getattr = { req, ino, _ in ReadOnlyFuseOperations.getattr(req, ino) }
        ops.readlink = { req, ino in ReadOnlyFuseOperations.readlink(req, ino) }
        ops.open = { req, ino, fi in ReadOnlyFuseOperations.open(req, ino, fi) }
        ops.read = { req, _, size, off, fi in ReadOnlyFuseOperations.read(req, size, off, fi) }
        ops.release = { req, _, fi in
            if let fi { _ = Handles.take(fi.pointee.fh, as: OpenTreeFile.self) }
            _ = fuse_reply_err(req, 0)
        }
        ops.opendir = { req, ino, fi in ReadOnlyFuseOperations.opendir(req, ino, fi) }
        ops.readdir = { req, _, size, off, fi in ReadOnlyFuseOperations.readdir(req, size, off, fi) }
        ops.releasedir = { req, _, fi in
            if let fi { _ = Handles.take(fi.pointee.fh, as: ReadOnlyDirectory.self) }
            _ = fuse_reply_err(req, 0)
        }
        ops.statfs = { req, _ in ReadOnlyFuseOperations.statfs(req) }
        ops.getxattr = { req, ino, name, size in ReadOnlyFuseOperations.getxattr(req, ino, name, size) }
        ops.listxattr = { req, ino, size in ReadOnlyFuseOperations.listxattr(req, ino, size) }
        return ops
    }

    /// fi->fh of an open file: a class box, since the tree's file is an existential.
    final class OpenTreeFile: Sendable {
        let file: any ReadOnlyTreeFile
        init(_ file: any ReadOnlyTreeFile) { self.file = file }
    }

    static func lookup(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
        guard let name else { return replyError(req, Errno.ENOENT) }
        do throws(Errno) {
            let (node, attributes) = try nodes(req).lookup(parent: parent, name: bytes(name))
            var param = fuse_entry_param()
            param.ino = node
            param.attr = attributes
            param.attr_timeout = timeout
            param.entry_timeout = timeout
            if fuse_reply_entry(req, &param) != 0 { nodes(req).forget(node, count: 1) }
        } catch {
            replyError(req, error)
        }
    }

    static func getattr(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        let session = session(req)
        defer { if ino == ReadOnlyNodes.rootNode { session.rootAnswered.withLock { $0 = true } } }
        do throws(Errno) {
            var attributes = try session.nodes.tree.attributes(try session.nodes.path(of: ino))
            _ = fuse_reply_attr(req, &attributes, timeout)
        } catch {
            replyError(req, error)
        }
    }

    static func readlink(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        do throws(Errno) {
            let nodes = nodes(req)
            let target = try nodes.tree.readLink(try nodes.path(of: ino)) + [0]
            _ = target.withUnsafeBufferPointer { fuse_reply_readlink(req, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
        } catch {
            replyError(req, error)
        }
    }

    static func open(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        guard let fi else { return replyError(req, Errno.EINVAL) }
        guard fi.pointee.flags & O_ACCMODE == O_RDONLY else { return replyError(req, Errno(EROFS)) }
        do throws(Errno) {
            let nodes = nodes(req)
            let file = try nodes.tree.open(try nodes.path(of: ino))
            fi.pointee.fh = Handles.store(OpenTreeFile(file))
            fi.pointee.keep_cache = 1
            if fuse_reply_open(req, fi) != 0 { _ = Handles.take(fi.pointee.fh, as: OpenTreeFile.self) }
        } catch {
            replyError(req, error)
        }
    }

    static func read(_ req: fuse_req_t?, _ size: Int, _ off: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        guard let fi, let open = Handles.borrow(fi.pointee.fh, as: OpenTreeFile.self) else {
            return replyError(req, Errno.EBADF)
        }
        let replied: Void? = ReplyBuffers.withBuffer(count: size) { buffer in
            do throws(Errno) {
                let count = min(max(try open.file.read(into: buffer, at: Int64(off)), 0), buffer.count)
                _ = fuse_reply_buf(req, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), count)
            } catch {
                replyError(req, error)
            }
        }
        if replied == nil { replyError(req, Errno.ENOMEM) }
    }

    static func opendir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        guard let fi else { return replyError(req, Errno.EINVAL) }
        do throws(Errno) {
            let nodes = nodes(req)
            let entries = try nodes.listing(try nodes.path(of: ino)).entries
            var items = [ReadOnlyDirectory.Item(name: Array(".".utf8), inode: ino, type: UInt32(DT_DIR)),
                         ReadOnlyDirectory.Item(name: Array("..".utf8), inode: 0, type: UInt32(DT_DIR))]
            for entry in entries {
                items.append(.init(name: entry.name, inode: UInt64(entry.attributes.st_ino),
                                   type: UInt32(entry.attributes.st_mode & S_IFMT) >> 12))
            }
            fi.pointee.fh = Handles.store(ReadOnlyDirectory(items: items))
            fi.pointee.cache_readdir = 1
            fi.pointee.keep_cache = 1
            if fuse_reply_open(req, fi) != 0 { _ = Handles.take(fi.pointee.fh, as: ReadOnlyDirectory.self) }
        } catch {
            replyError(req, error)
        }
    }

    static func readdir(_ req: fuse_req_t?, _ size: Int, _ off: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
        guard let fi, let directory = Handles.borrow(fi.pointee.fh, as: ReadOnlyDirectory.self) else {
            return replyError(req, Errno.EBADF)
        }
        let replied: Void? = ReplyBuffers.withBuffer(count: size) { buffer in
            guard let base = buffer.baseAddress?.assumingMemoryBound(to: CChar.self), off >= 0 else {
                _ = fuse_reply_buf(req, nil, 0)
                return
            }
            var used = 0
            var index = Int(off)
            while index < directory.items.count {
                let item = directory.items[index]
                var attributes = stat()
                attributes.st_ino = ino_t(item.inode)
                attributes.st_mode = mode_t(item.type) << 12
                let needed = (item.name + [0]).withUnsafeBufferPointer { name in
                    fuse_add_direntry(req, base + used, buffer.count - used,
                                      UnsafeRawPointer(name.baseAddress!).assumingMemoryBound(to: CChar.self),
                                      &attributes, off_t(index + 1))
                }
                if needed > buffer.count - used { break }
                used += needed
                index += 1
            }
            _ = fuse_reply_buf(req, base, used)
        }
        if replied == nil { replyError(req, Errno.ENOMEM) }
    }

    static func statfs(_ req: fuse_req_t?) {
        do throws(Errno) {
            var info = try nodes(req).tree.statfs()
            _ = fuse_reply_statfs(req, &info)
        } catch {
            replyError(req, error)
        }
    }

    static func getxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ name: UnsafePointer<CChar>?, _ size: Int) {
        guard let name, strncmp(name, "user.", 5) == 0 else { return replyError(req, Errno.ENODATA) }
        do throws(Errno) {
            let nodes = nodes(req)
            replyXattr(req, try nodes.tree.extendedAttribute(try nodes.path(of: ino), name: bytes(name)), size: size)
        } catch {
            replyError(req, error)
        }
    }

    static func listxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int) {
        do throws(Errno) {
            let nodes = nodes(req)
            var list: [UInt8] = []
            for name in try nodes.tree.extendedAttributeNames(try nodes.path(of: ino)) {
                list += name + [0]
            }
            replyXattr(req, list, size: size)
        } catch {
            replyError(req, error)
        }
    }

    /// size 0 asks for the size; a buffer too small is ERANGE.
    static func replyXattr(_ req: fuse_req_t?, _ value: [UInt8], size: Int) {
        if size == 0 {
            _ = fuse_reply_xattr(req, value.count)
        } else if value.count > size {
            replyError(req, Errno.ERANGE)
        } else {
            _ = value.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        }
    }

    /// A name the kernel sent, as the tree's bytes (names need not be UTF-8 here).
    static func bytes(_ name: UnsafePointer<CChar>) -> [UInt8] {
        Array(UnsafeBufferPointer(start: UnsafeRawPointer(name).assumingMemoryBound(to: UInt8.self), count: strlen(name)))
    }

    static func replyError(_ req: fuse_req_t?, _ error: Errno) {
        _ = fuse_reply_err(req, error.code > 0 ? error.code : EIO)
    }

    @inline(__always)
    static func session(_ req: fuse_req_t?) -> ReadOnlySession {
        Unmanaged<ReadOnlySession>.fromOpaque(UnsafeRawPointer(fuse_req_userdata(req)!)).takeUnretainedValue()
    }

    @inline(__always)
    static func nodes(_ req: fuse_req_t?) -> ReadOnlyNodes { session(req).nodes }
}
