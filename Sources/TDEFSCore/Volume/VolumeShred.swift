import Glibc

/// `tdefs shred`: the volume's wrapped master keys are destroyed, so nothing in the backing
/// directory can be decrypted again. tdefs.conf is overwritten in place with random bytes (the
/// same blocks on a filesystem that writes in place, such as ext4 and XFS) and fsynced, then
/// replaced by a marker that names the volume and the time, so that every later command says what
/// happened instead of "corrupt". Copies of tdefs.conf elsewhere (backups, snapshots, exported
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
        var done = 0
        while done < noise.count {
            let n = noise.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .io(path: confPath, operation: "overwrite", errno: .current) }
            done += n
        }
        guard fsync(fd) == 0 else { throw .io(path: confPath, operation: "fsync", errno: .current) }
        let marker = JSONText.object([
            ("format", .string(VolumeConfig.formatName)),
            ("formatVersion", .int(Int64(config.formatVersion))),
            ("volumeID", .string(Base64URL.encode(config.volumeID))),
            ("shredded", .string(Volume.timestamp())),
        ])
        try dir.writeFileAtomically(VolumeConfig.fileName, bytes: Array((marker.render() + "\n").utf8), mode: 0o600)
    }
}
