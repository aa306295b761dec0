/// Errors of the eCryptfs reader. Messages name the lower path and what is wrong; they never
/// contain key material (passphrases, FEKEKs, FEKs, the FNEK) or decrypted bytes.
public enum ECryptfsError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A structure on disk is not what eCryptfs writes (truncated, wrong marker, bad length...).
    case malformed(path: String, what: String)
    /// No key given derives the signature this file's or name's packet asks for: a wrong
    /// passphrase (or a file written under another key).
    case wrongKey(path: String, signature: String)
    /// The file uses something eCryptfs can write but this reader does not handle.
    case unsupported(path: String, what: String)
    /// A system call failed on the lower directory.
    case io(path: String, errno: Int32)
    /// A passphrase, wrapped-passphrase or login passphrase file is unusable.
    case badKeyFile(path: String, what: String)

    public var description: String {
        switch self {
        case let .malformed(p, w): return "\(p): damaged eCryptfs data: \(w)"
        case let .wrongKey(p, s): return "\(p): no given key matches the eCryptfs key signature \(s) (wrong passphrase?)"
        case let .unsupported(p, w): return "\(p): unsupported eCryptfs feature: \(w)"
        case let .io(p, e): return "\(p): \(String(cString: strerror(e)))"
        case let .badKeyFile(p, w): return "\(p): \(w)"
        }
    }

    /// The lower path the error is about.
    public var path: String {
        switch self {
        case let .malformed(p, _), let .wrongKey(p, _), let .unsupported(p, _), let .io(p, _), let .badKeyFile(p, _): return p
        }
    }
}

import Glibc
