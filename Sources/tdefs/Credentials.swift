import Glibc
import TDEFSCore

/// systemd credentials (systemd.exec(5), "CREDENTIALS"): files in $CREDENTIALS_DIRECTORY, which
/// systemd fills from LoadCredential= / LoadCredentialEncrypted= (decrypted with systemd-creds,
/// TPM2 and/or the host key) and removes when the unit stops.
enum Credentials {
    static let sizeLimit = 1 << 20

    /// $CREDENTIALS_DIRECTORY/NAME; exit 2 when the variable is not set (not run by systemd).
    static func path(of name: String) throws(CLIError) -> String {
        guard let raw = getenv("CREDENTIALS_DIRECTORY"), raw.pointee != 0 else {
            throw CLIError(.usage, "--key-credential \(name): $CREDENTIALS_DIRECTORY is not set "
                + "(give the unit LoadCredential=\(name):PATH or LoadCredentialEncrypted=\(name):PATH)")
        }
        var dir = String(cString: raw)
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        return dir + "/" + name
    }

    /// The credential's bytes in locked memory, read like a key command's output.
    static func read(_ path: String, name: String) throws(CLIError) -> KeySecret {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            throw CLIError(.failure, "cannot read the credential \(name) (\(path)): \(Errno.current)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw CLIError(.failure, "the credential \(name) (\(path)) is not a regular file")
        }
        let size = Int(st.st_size)
        guard size > 0 else { throw CLIError(.failure, "the credential \(name) (\(path)) is empty") }
        guard size <= sizeLimit else { throw CLIError(.failure, "the credential \(name) (\(path)) is larger than 1 MiB") }
        let bytes = SecureBytes(count: size)
        var done = 0
        var failure: Int32 = 0
        bytes.withUnsafeMutableBytes { dst in
            while done < size {
                let n = Glibc.read(fd, dst.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno; return }
                if n == 0 { return }
                done += n
            }
        }
        if failure != 0 { throw CLIError(.failure, "cannot read the credential \(name) (\(path)): \(Errno(failure))") }
        guard done == size else { throw CLIError(.failure, "the credential \(name) (\(path)) changed while being read") }
        let blank = bytes.withUnsafeBytes { b in b.allSatisfy { $0 == 0x0A || $0 == 0x0D } }
        if blank { throw CLIError(.failure, "the credential \(name) (\(path)) is empty") }
        return KeySecret(kind: .commandOutput, bytes: bytes, what: "the credential \(name)")
    }
}
