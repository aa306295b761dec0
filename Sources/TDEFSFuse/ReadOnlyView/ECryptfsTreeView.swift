import Glibc
import Logging
import TDEFSCore

/// An eCryptfs lower directory as a `ReadOnlyTree` (`tdefs mount --ecryptfs`): plaintext names,
/// sizes, contents, symlink targets and user.* attributes from the userspace reader. A name that
/// does not decrypt, and two lower names that decrypt to one plaintext name, are left out of
/// listings with a log line (which of the two is meant cannot be told); a file whose header is
/// damaged or wants another key reads EIO, also with a log line. Nothing in the lower directory is
/// ever changed.
public final class ECryptfsTreeView: ReadOnlyTree {
    let lower: ECryptfsLowerDirectory
    let logger: Logger

    public init(lower: ECryptfsLowerDirectory, logger: Logger) {
        self.lower = lower
        self.logger = logger
    }

    public func list(_ directory: ReadOnlyTreePath) throws(Errno) -> [ReadOnlyTreeEntry] {
        let entries = try answer { () throws(ECryptfsError) in try lower.entries(of: ECryptfsPath(lowerComponents: directory)) }
        var colliding = Set<[UInt8]>()
        for group in ECryptfsLowerDirectory.collisions(in: entries) {
            colliding.insert(group[0].name!)
            logger.error("two eCryptfs names decrypt to one name: left out", metadata: [
                "paths": "\(group.map { "\($0.path)" }.joined(separator: ", "))"])
        }
        var out: [ReadOnlyTreeEntry] = []
        out.reserveCapacity(entries.count)
        for entry in entries {
            guard let name = entry.name else {
                logger.error("eCryptfs name does not decrypt: left out",
                             metadata: ["path": "\(entry.path)", "error": "\(entry.nameError.map { "\($0)" } ?? "?")"])
                continue
            }
            if colliding.contains(name) { continue }
            out.append(ReadOnlyTreeEntry(name: name, component: entry.lowerName, attributes: entry.stat))
        }
        return out
    }

    public func attributes(_ path: ReadOnlyTreePath) throws(Errno) -> stat {
        try answer { () throws(ECryptfsError) in try lower.stat(ECryptfsPath(lowerComponents: path)) }
    }

    public func readLink(_ path: ReadOnlyTreePath) throws(Errno) -> [UInt8] {
        try answer { () throws(ECryptfsError) in try lower.readLink(ECryptfsPath(lowerComponents: path)) }
    }

    public func open(_ path: ReadOnlyTreePath) throws(Errno) -> any ReadOnlyTreeFile {
        let file = try answer { () throws(ECryptfsError) in try lower.openFile(ECryptfsPath(lowerComponents: path)) }
        return OpenECryptfsFile(file: file, view: self)
    }

    public func extendedAttributeNames(_ path: ReadOnlyTreePath) throws(Errno) -> [[UInt8]] {
        try answer { () throws(ECryptfsError) in try lower.extendedAttributes(ECryptfsPath(lowerComponents: path)) }
            .map { Array($0.name.utf8) }
    }

    public func extendedAttribute(_ path: ReadOnlyTreePath, name: [UInt8]) throws(Errno) -> [UInt8] {
        let all = try answer { () throws(ECryptfsError) in try lower.extendedAttributes(ECryptfsPath(lowerComponents: path)) }
        guard let found = all.first(where: { Array($0.name.utf8) == name }) else { throw Errno.ENODATA }
        return found.value
    }

    public func statfs() throws(Errno) -> statvfs {
        var info = statvfs()
        guard statvfs(lower.rootPath, &info) == 0 else { throw Errno.current }
        return info
    }

    /// The reader's errors as errno answers: a failed system call keeps its errno; damage, a key
    /// that does not match and unsupported features are EIO, told in the log.
    func answer<T>(_ body: () throws(ECryptfsError) -> T) throws(Errno) -> T {
        do {
            return try body()
        } catch {
            if case .io(_, let code) = error { throw Errno(code) }
            logger.error("eCryptfs data cannot be read", metadata: ["path": "\(error.path)", "error": "\(error)"])
            throw Errno.EIO
        }
    }

    final class OpenECryptfsFile: ReadOnlyTreeFile {
        let file: ECryptfsFile
        let view: ECryptfsTreeView

        init(file: ECryptfsFile, view: ECryptfsTreeView) {
            self.file = file
            self.view = view
        }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
            try view.answer { () throws(ECryptfsError) in try file.read(into: buffer, at: offset) }
        }
    }
}
