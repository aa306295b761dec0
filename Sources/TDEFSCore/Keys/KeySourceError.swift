/// Why a key source gave no usable secret. Messages never contain secret bytes.
public enum KeySourceError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, errno: Errno)
    case tooLarge(what: String)
    /// A key file (or key command output) that is neither ≥ 32 raw bytes nor one base64 line of ≥ 32 bytes.
    case notAKey(what: String)
    case emptyPassphrase(what: String)
    case commandFailed(status: String)
    case commandNotStarted(errno: Errno)
    /// No key option was given and standard input is not a terminal.
    case noTerminal
    case passphrasesDiffer
    case promptAborted

    public var description: String {
        switch self {
        case .unreadable(let p, let e): return "cannot read \(p): \(e)"
        case .tooLarge(let w): return "\(w) is larger than 1 MiB"
        case .notAKey(let w):
            return "\(w) is not a key: it needs at least 32 bytes, raw or as one line of base64"
        case .emptyPassphrase(let w): return "\(w) holds an empty passphrase"
        case .commandFailed(let s): return "key command failed (\(s))"
        case .commandNotStarted(let e): return "cannot run key command: \(e)"
        case .noTerminal:
            return "no key given: use --key-file, --passphrase-file, --key-command, --passphrase-command, --key-credential, --key-kmip or --key-pkcs11 (standard input is not a terminal, so tdefs cannot prompt)"
        case .passphrasesDiffer: return "the passphrases do not match"
        case .promptAborted: return "no passphrase entered"
        }
    }
}
