import CPlatform
import Glibc

/// user.* extended attributes. A file's attributes are keyed by its file key, a directory's by its
/// IV epoch; both move to new keys during rotate --reencrypt, so attribute operations hold the
/// lock that the move holds (the file's content lock, the directory's namespace lock), and during
/// a file's re-key an attribute not yet moved is found under the previous key.
extension FileSystem {
    public func setxattr(_ node: UInt64, name: String, value: UnsafeRawBufferPointer, flags: Int32) throws(Errno) {
        let inode = try inodes.get(node)
        guard name.hasPrefix(XattrCodec.userPrefix) else { throw Errno.ENOTSUP }
        guard inode.isRegular || inode.isDirectory else { throw Errno.EPERM }
        try withAttributeKeys(inode, create: true) { (keys) throws(Errno) in
            let backing = try XattrCodec.encryptName(name, keys: keys.current)
            let stored = XattrCodec.sealValue(Array(value), backingName: backing, keys: keys.current)
            _ = try sys { stored.withUnsafeBytes { tdefs_setxattr(inode.procPath, backing, $0.baseAddress, $0.count, flags) } }
            // A copy under the previous key (a re-key in progress) would come back: drop it.
            if let previous = keys.previous, let old = try? XattrCodec.encryptName(name, keys: previous) {
                _ = tdefs_removexattr(inode.procPath, old)
            }
        }
    }

    public func getxattr(_ node: UInt64, name: String) throws(Errno) -> [UInt8] {
        let inode = try inodes.get(node)
        guard name.hasPrefix(XattrCodec.userPrefix), inode.isRegular || inode.isDirectory else { throw Errno.ENODATA }
        return try withAttributeKeys(inode, create: false) { (keys) throws(Errno) -> [UInt8] in
            for k in keys.all {
                let backing = try XattrCodec.encryptName(name, keys: k)
                let stored: [UInt8]
                do throws(Errno) {
                    stored = try readBackingXattr(inode.procPath, backing)
                } catch where error.code == ENODATA {
                    continue
                }
                guard let value = XattrCodec.openValue(stored, backingName: backing, keys: k) else {
                    logger.error("extended attribute does not authenticate", metadata: ["path": "\(path(of: inode))"])
                    counters.authenticationFailed(.xattr)
                    throw Errno.EIO
                }
                return value
            }
            throw Errno.ENODATA
        }
    }

    public func listxattr(_ node: UInt64) throws(Errno) -> [String] {
        let inode = try inodes.get(node)
        guard inode.isRegular || inode.isDirectory else { return [] }
        let users = try backingUserAttributes(inode.procPath)
        if users.isEmpty { return [] }
        return try withAttributeKeys(inode, create: false) { (keys) throws(Errno) -> [String] in
            var seen = Set<String>()
            return users.compactMap { backing in
                guard let name = keys.all.lazy.compactMap({ XattrCodec.decryptName(backing, keys: $0) }).first,
                      seen.insert(name).inserted else { return nil }
                return name
            }
        }
    }

    public func removexattr(_ node: UInt64, name: String) throws(Errno) {
        let inode = try inodes.get(node)
        guard name.hasPrefix(XattrCodec.userPrefix), inode.isRegular || inode.isDirectory else { throw Errno.ENODATA }
        try withAttributeKeys(inode, create: false) { (keys) throws(Errno) in
            var removed = false
            for k in keys.all where tdefs_removexattr(inode.procPath, try XattrCodec.encryptName(name, keys: k)) == 0 {
                removed = true
            }
            if !removed { throw Errno.ENODATA }
        }
    }

    /// The keys of an object's attributes: current, and the previous file key's during a re-key.
    struct AttributeKeys {
        var current: XattrKeys
        var previous: XattrKeys?
        var all: [XattrKeys] { [current] + (previous.map { [$0] } ?? []) }
    }

    /// Runs `body` with the object's attribute keys, holding the lock that moving them takes.
    func withAttributeKeys<R>(_ inode: Inode, create: Bool, _ body: (AttributeKeys) throws(Errno) -> R) throws(Errno) -> R {
        if inode.isDirectory {
            return try inDirectory(inode) { () throws(Errno) -> R in
                let iv = try directoryIV(of: inode)
                return try body(AttributeKeys(current: XattrKeys.forDirectory(keys: try nameKeys(for: iv), iv: iv)))
            }
        }
        let file = try reopen(inode, flags: create ? O_RDWR : O_RDONLY)
        return try inode.content!.lock.withWriteLock { () throws(Errno) -> R in
            guard let io = try contentIO(file.fd, inode, createHeader: create) else { throw Errno.ENODATA }
            return try body(AttributeKeys(current: io.header.xattrKeys, previous: io.header.previousXattrKeys))
        }
    }

    /// Moves a file's attributes from its previous key to its current one (rotate --reencrypt);
    /// the caller holds the file's content lock. Resumable: moved attributes no longer decrypt
    /// under the previous key.
    func moveFileAttributes(_ inode: Inode, from previous: XattrKeys, to current: XattrKeys) throws(Errno) {
        for backing in try backingUserAttributes(inode.procPath) {
            guard let name = XattrCodec.decryptName(backing, keys: previous) else { continue }
            guard let value = XattrCodec.openValue(try readBackingXattr(inode.procPath, backing), backingName: backing, keys: previous)
            else { continue }
            let newName = try XattrCodec.encryptName(name, keys: current)
            let sealed = XattrCodec.sealValue(value, backingName: newName, keys: current)
            let r = sealed.withUnsafeBytes { tdefs_setxattr(inode.procPath, newName, $0.baseAddress, $0.count, tdefs_XATTR_CREATE) }
            if r != 0 && errno != EEXIST { throw Errno.current }  // EEXIST: set meanwhile under the new key
            _ = tdefs_removexattr(inode.procPath, backing)
        }
    }

    /// The backing object's user.* attribute names (tdefs' own reserved ones included).
    func backingUserAttributes(_ path: String) throws(Errno) -> [String] {
        var size = try sys { tdefs_listxattr(path, nil, 0) }
        if size == 0 { return [] }
        var buf = [UInt8](repeating: 0, count: size)
        size = try sys { buf.withUnsafeMutableBytes { tdefs_listxattr(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) } }
        return buf[0..<size].split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            .filter { $0.hasPrefix(XattrCodec.userPrefix) }
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
