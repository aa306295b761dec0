import Glibc

/// Read-modify-write of tdefs.conf under an exclusive lock (tdefs.conflock), so that passwd,
/// rotate and retire never lose each other's changes. The file itself is replaced atomically.
public enum ConfigTransaction {
    public static let lockName = "tdefs.conflock"

    @discardableResult
    public static func update(backingPath: String,
                              _ change: (inout VolumeConfig) throws -> Void) throws -> VolumeConfig {
        let dir = try BackingDirectory(path: backingPath)
        let fd = try BackingFile.open(lockName, in: dir, flags: O_RDWR | O_CREAT)
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw VolumeError.io(path: backingPath + "/" + lockName, operation: "lock", errno: .current) }
        }
        var config = try Volume.loadConfig(backingPath: backingPath)
        try change(&config)
        try Volume.saveConfig(config, backingPath: backingPath)
        return config
    }
}
