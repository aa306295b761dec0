import Glibc

/// Read-modify-write of tdefs.conf under an exclusive lock (tdefs.conflock), so that passwd,
/// rotate and retire never lose each other's changes. The file itself is replaced atomically,
/// sealed (VolumeConfigSeal) under the volume's KEK.
public enum ConfigTransaction {
    public static let lockName = "tdefs.conflock"

    /// Checks the configuration read under the lock with `kek` (it may have changed since the
    /// caller unlocked), applies `change`, seals it under `kek` and writes it.
    @discardableResult
    public static func update(backingPath: String, kek: SecureBytes,
                              _ change: (inout VolumeConfig) throws -> Void) throws -> VolumeConfig {
        try transaction(backingPath: backingPath) { config throws -> SecureBytes in
            _ = try Volume.unlock(config: config, kek: kek, path: backingPath)
            try change(&config)
            return kek
        }
    }

    /// Replaces the key source: `change` unlocks the configuration itself (with the old key),
    /// rewraps it, and returns the new KEK, which seals it.
    @discardableResult
    public static func replaceKey(backingPath: String,
                                  _ change: (inout VolumeConfig) throws -> SecureBytes) throws -> VolumeConfig {
        try transaction(backingPath: backingPath, change)
    }

    static func transaction(backingPath: String,
                            _ change: (inout VolumeConfig) throws -> SecureBytes) throws -> VolumeConfig {
        try withLock(backingPath: backingPath) {
            var config = try Volume.loadConfig(backingPath: backingPath)
            let kek = try change(&config)
            try VolumeConfigSeal.seal(&config, kek: kek, path: backingPath)
            try Volume.saveConfig(config, backingPath: backingPath)
            return config
        }
    }

    /// Runs `body` holding tdefs.conflock: no passwd, rotate or retire writes tdefs.conf meanwhile.
    public static func withLock<T>(backingPath: String, _ body: () throws -> T) throws -> T {
        let dir = try BackingDirectory(path: backingPath)
        let fd = try BackingFile.open(lockName, in: dir, flags: O_RDWR | O_CREAT)
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw VolumeError.io(path: backingPath + "/" + lockName, operation: "lock", errno: .current) }
        }
        return try body()
    }
}
