import Glibc

/// `tdefs shred`: the volume's wrapped master keys are destroyed, so nothing in the backing
/// directory can be decrypted again. tdefs.conf is overwritten in place with random bytes (the
/// same blocks on a filesystem that writes in place, such as ext4 and XFS) and fsynced, then, in
/// the same blocks, with a marker that names the volume and the time, so that every later command
/// says what happened instead of "corrupt" (killed in between, tdefs.conf is random bytes: the
/// keys are gone either way). Leftover temporaries with a copy of tdefs.conf go too. Copies of tdefs.conf elsewhere (backups, snapshots, exported
/// keys) are not reached: for a KMIP volume, destroying the server's key (the caller's part)
/// makes those useless too.
public enum VolumeShred {
    public static func shred(backingPath: String, config: VolumeConfig) throws(VolumeError) {
        let dir = try BackingDirectory(path: backingPath)
        let confPath = backingPath + "/" + VolumeConfig.fileName
        let fd: Int32
        do {
            fd = try BackingFile.open(VolumeConfig.fileName, in: dir.fd, flags: O_WRONLY)
        } catch {
            throw .io(path: confPath, operation: "open", errno: error)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: confPath, operation: "stat", errno: .current) }
        let noise = Random.bytes(Int(st.st_size))
        try writeAll(fd, noise, path: confPath)
        guard fsync(fd) == 0 else { throw .io(path: confPath, operation: "fsync", errno: .current) }
        // The marker goes into the same blocks (padded with spaces to the file's length, which
        // JSON allows): no rename leaves the random bytes, or the old file, in freed blocks.
        let marker = JSONText.object([
            ("format", .string(VolumeConfig.formatName)),
            ("formatVersion", .int(Int64(config.formatVersion))),
            ("volumeID", .string(Base64URL.encode(config.volumeID))),
            ("shredded", .string(Volume.timestamp())),
        ])
        var text = Array((marker.render() + "\n").utf8)
        if text.count < noise.count { text += [UInt8](repeating: 0x20, count: noise.count - text.count - 1) + [0x0A] }
        try writeAll(fd, text, path: confPath)
        guard ftruncate(fd, off_t(text.count)) == 0, fsync(fd) == 0 else { throw .io(path: confPath, operation: "fsync", errno: .current) }
        try removeLeftoverCopies(dir)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(VolumeError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .io(path: path, operation: "overwrite", errno: .current) }
            done += n
        }
    }

    /// Temporaries of an interrupted atomic write (tdefs.tmp.*) in the root hold a whole copy of
    /// tdefs.conf: each is overwritten with random bytes and removed.
    static func removeLeftoverCopies(_ dir: BackingDirectory) throws(VolumeError) {
        var names: [String] = []
        try? BackingEntries.forEachEntry(directoryFD: dir.fd) { name, _, _ in
            if name.hasPrefix("tdefs.tmp.") { names.append(name) }
            return true
        }
        for name in names {
            guard let fd = try? BackingFile.open(name, in: dir.fd, flags: O_WRONLY) else { continue }
            var st = stat()
            if fstat(fd, &st) == 0 { try? writeAll(fd, Random.bytes(Int(st.st_size)), path: dir.path + "/" + name) }
            _ = fsync(fd)
            close(fd)
            unlinkat(dir.fd, name, 0)
        }
    }
}
