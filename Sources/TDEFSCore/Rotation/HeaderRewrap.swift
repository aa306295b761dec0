import CPlatform
import Glibc

/// Re-wraps every file key of a volume under one epoch: each header is rewritten in place with a
/// single 96-byte write (within one disk sector), so at any instant a header names either its old
/// epoch or the new one, and both are in tdefs.conf until the rotation ends. Safe on a mounted
/// volume: the daemon writes an existing file's header only when it re-keys the file, and then
/// under the same header lock (HeaderLock) that each rewrap here holds from its read to its write.
public final class HeaderRewrap {
    public struct Outcome: Sendable {
        public var rewrapped = 0
        public var alreadyCurrent = 0
        public var failed: [String] = []
    }

    let backingPath: String
    let keyring: Keyring
    let target: EpochKeys
    let progress: (_ done: Int, _ total: Int) -> Void

    public init(backingPath: String, keyring: Keyring, target: EpochKeys,
                progress: @escaping (_ done: Int, _ total: Int) -> Void = { _, _ in }) {
        self.backingPath = backingPath
        self.keyring = keyring
        self.target = target
        self.progress = progress
    }

    public func run() throws(Errno) -> Outcome {
        let root = try sys { Glibc.open(backingPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(root) }
        var files: [(dir: Int32, name: String, path: String)] = []
        var dirs: [Int32] = []
        defer { for d in dirs { close(d) } }
        collect(root, "", &files, &dirs)
        var outcome = Outcome()
        for (i, f) in files.enumerated() {
            rewrap(f.dir, f.name, f.path, &outcome)
            progress(i + 1, files.count)
        }
        // Every header is on disk before the rotation is recorded as finished.
        _ = tdefs_syncfs(root)
        return outcome
    }

    func collect(_ dir: Int32, _ path: String, _ files: inout [(dir: Int32, name: String, path: String)], _ dirs: inout [Int32]) {
        var subdirs: [String] = []
        try? BackingEntries.forEachEntry(directoryFD: dir) { name, _, type in
            guard VolumeCensus.isUserEntry(name) else { return true }
            var st = stat()
            guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return true }
            if (st.st_mode & S_IFMT) == S_IFREG && st.st_size > 0 { files.append((dir, name, path + "/" + name)) }
            if (st.st_mode & S_IFMT) == S_IFDIR { subdirs.append(name) }
            return true
        }
        for name in subdirs {
            let fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            dirs.append(fd)
            collect(fd, path + "/" + name, &files, &dirs)
        }
    }

    func rewrap(_ dir: Int32, _ name: String, _ path: String, _ outcome: inout Outcome) {
        guard let fd = try? BackingFile.open(name, in: dir, flags: O_RDWR) else { outcome.failed.append(path); return }
        defer { close(fd) }
        // Read and write under the header lock: a daemon re-keying this file switches its header
        // under the same lock, so the key rewrapped here is never one it has just replaced.
        let result = try? HeaderLock.withLock(fd: fd) { () throws(Errno) -> Bool? in rewrapLocked(fd) }
        switch result {
        case true: outcome.rewrapped += 1
        case false: outcome.alreadyCurrent += 1
        case nil: outcome.failed.append(path)
        }
    }

    /// true: rewrapped; false: already under the target; nil: failed.
    func rewrapLocked(_ fd: Int32) -> Bool? {
        var buf = [UInt8](repeating: 0, count: FileHeader.byteCount)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n == FileHeader.byteCount, var header = FileHeader(parsing: buf) else { return nil }
        if header.epoch == target.epoch {
            // Under the target's number but not its key: an older epoch of that number (a rolled-back
            // tdefs.conf reused it), not a rewrapped file.
            return header.unwrap(keys: target) != nil ? false : nil
        }
        guard let old = keyring.epoch(header.epoch), let fileKey = header.unwrap(keys: old) else { return nil }
        header.wrap(fileKey: fileKey, keys: target)
        let bytes = header.bytes
        let w = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return w == bytes.count ? true : nil
    }
}
