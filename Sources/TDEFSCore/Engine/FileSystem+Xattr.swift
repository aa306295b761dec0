import CPlatform
import Glibc

extension FileSystem {
    public func setxattr(_ node: UInt64, name: String, value: UnsafeRawBufferPointer, flags: Int32) throws(Errno) {
        let inode = try inodes.get(node)
        guard name.hasPrefix(XattrCodec.userPrefix) else { throw Errno.ENOTSUP }
        guard inode.isRegular || inode.isDirectory else { throw Errno.EPERM }
        let keys = try xattrKeys(of: inode, create: true)
        let backing = try XattrCodec.encryptName(name, keys: keys)
        let stored = XattrCodec.sealValue(Array(value), backingName: backing, keys: keys)
        _ = try sys { stored.withUnsafeBytes { tdefs_setxattr(inode.procPath, backing, $0.baseAddress, $0.count, flags) } }
    }

    public func getxattr(_ node: UInt64, name: String) throws(Errno) -> [UInt8] {
        let inode = try inodes.get(node)
        guard name.hasPrefix(XattrCodec.userPrefix), inode.isRegular || inode.isDirectory else { throw Errno.ENODATA }
        let keys = try xattrKeys(of: inode, create: false)
        let backing = try XattrCodec.encryptName(name, keys: keys)
        let stored = try readBackingXattr(inode.procPath, backing)
        guard let value = XattrCodec.openValue(stored, backingName: backing, keys: keys) else {
            logger.error("extended attribute does not authenticate", metadata: ["path": "\(path(of: inode))"])
            throw Errno.EIO
        }
        return value
    }

    public func listxattr(_ node: UInt64) throws(Errno) -> [String] {
        let inode = try inodes.get(node)
        guard inode.isRegular || inode.isDirectory else { return [] }
        var size = try sys { tdefs_listxattr(inode.procPath, nil, 0) }
        if size == 0 { return [] }
        var buf = [UInt8](repeating: 0, count: size)
        size = try sys { buf.withUnsafeMutableBytes { tdefs_listxattr(inode.procPath, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) } }
        let backingNames = buf[0..<size].split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        let users = backingNames.filter { $0.hasPrefix(XattrCodec.userPrefix) }
        if users.isEmpty { return [] }
        let keys = try xattrKeys(of: inode, create: false)
        return users.compactMap { XattrCodec.decryptName($0, keys: keys) }
    }

    public func removexattr(_ node: UInt64, name: String) throws(Errno) {
        let inode = try inodes.get(node)
        guard name.hasPrefix(XattrCodec.userPrefix), inode.isRegular || inode.isDirectory else { throw Errno.ENODATA }
        let keys = try xattrKeys(of: inode, create: false)
        let backing = try XattrCodec.encryptName(name, keys: keys)
        _ = try sys { tdefs_removexattr(inode.procPath, backing) }
    }

    /// Regular files: keys from the file key; directories: from the directory's IV epoch.
    func xattrKeys(of inode: Inode, create: Bool) throws(Errno) -> XattrKeys {
        if inode.isDirectory { return XattrKeys.forDirectory(keys: try nameKeys(for: try directoryIV(of: inode))) }
        if let h = inode.content!.header.withLock({ $0 }) { return h.xattrKeys }
        let file = try reopen(inode, flags: create ? O_RDWR : O_RDONLY)
        return try inode.content!.lock.withWriteLock { () throws(Errno) -> XattrKeys in
            guard let io = try contentIO(file.fd, inode, createHeader: create) else { throw Errno.ENODATA }
            return io.header.xattrKeys
        }
    }

    func readBackingXattr(_ path: String, _ name: String) throws(Errno) -> [UInt8] {
        while true {
            let size = try sys { tdefs_getxattr(path, name, nil, 0) }
            var buf = [UInt8](repeating: 0, count: max(size, 1))
            let n = buf.withUnsafeMutableBytes { tdefs_getxattr(path, name, $0.baseAddress, size) }
            if n >= 0 { return Array(buf[0..<n]) }
            if errno != ERANGE { throw Errno.current }
        }
    }
}
