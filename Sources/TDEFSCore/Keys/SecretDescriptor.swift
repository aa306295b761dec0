/// Secrets handed over on a file descriptor (the mount daemon gets its key material from its
/// parent through a pipe, never on the command line or in the environment).
public enum SecretDescriptor {
    /// Reads `fd` to its end (at most 1 MiB) into locked memory. The caller closes `fd`.
    public static func read(fd: Int32, what: String = "the secret pipe") throws(KeySourceError) -> SecureBytes {
        let buf = SecretBuffer(capacity: 4096)
        try buf.readAll(fd: fd, limit: KeySource.sizeLimit, what: what)
        return buf.secure(0..<buf.count)
    }
}
