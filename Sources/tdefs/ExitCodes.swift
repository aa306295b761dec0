import TDEFSCore
import TDEFSFuse

/// The exit statuses of `tdefs`, in one place. docs/exit-codes.md documents them; they are stable.
enum ExitStatus: Int32 {
    case ok = 0
    /// Any error not listed below (I/O errors, an unreadable key file, a non-empty backing dir at init).
    case failure = 1
    /// Bad command line, or no key option while standard input is not a terminal.
    case usage = 2
    /// The key does not open the volume.
    case wrongKey = 10
    /// tdefs.conf (or another part of the volume) is damaged, or of a newer format version.
    case corruptVolume = 11
    /// The backing directory does not exist, or holds no tdefs.conf.
    case notAVolume = 12
    /// The mount could not be made (FUSE, mountpoint, daemon start).
    case mountFailed = 13
    /// `unmount` (or a command that needs a mount) found no tdefs mount there.
    case notMounted = 14
    /// The volume is already mounted, or locked by another tdefs process.
    case alreadyMounted = 15
    /// A key manager (a KMIP server) could not be reached or refused the TLS session: worth retrying.
    case keyManagerUnreachable = 16
    /// The key manager answered and refused the volume's key (revoked, destroyed, unknown, not this
    /// client's): retrying does not help.
    case keyManagerRefused = 17
    /// The daemon stopped because it was locked (`tdefs lock`, or `-o key_check` found its key
    /// withdrawn): the mount is left in place, dead. The unit neither restarts nor unmounts.
    case locked = 18
    /// Reserved: fsck found damage.
    case fsckFoundDamage = 20
}

/// An error with the exit status and the one-line message the operator sees.
struct CLIError: Error, CustomStringConvertible {
    let status: ExitStatus
    let message: String
    init(_ status: ExitStatus, _ message: String) { self.status = status; self.message = message }
    var description: String { message }

    /// Classifies any error thrown below the command line.
    static func from(_ error: Error) -> CLIError {
        switch error {
        case let e as CLIError:
            return e
        case let e as VolumeError:
            switch e {
            case .backingMissing, .notAVolume: return CLIError(.notAVolume, e.description)
            case .corruptConfig, .unsupportedVersion, .notRegularFile, .shredded: return CLIError(.corruptVolume, e.description)
            case .wrongKey: return CLIError(.wrongKey, e.description)
            case .locked: return CLIError(.alreadyMounted, e.description)
            case .notEmpty, .alreadyAVolume, .io: return CLIError(.failure, e.description)
            }
        case let e as KeySourceError:
            if case .noTerminal = e { return CLIError(.usage, e.description) }
            return CLIError(.failure, e.description)
        case let e as KeyManagerError:
            // Unreachable or a server's General Failure: 16 (retried); refused: 17 (not retried);
            // this host's files or a malformed answer: 1.
            return CLIError(e.isUnreachable ? .keyManagerUnreachable : e.isRefusal ? .keyManagerRefused : .failure, e.description)
        case let e as PKCS11Error:
            switch e.kind {
            case .pinIncorrect, .notAuthentic: return CLIError(.wrongKey, e.description)
            case .tokenAbsent: return CLIError(.keyManagerUnreachable, e.description)
            case .keyMissing: return CLIError(.keyManagerRefused, e.description)
            case .badURI: return CLIError(.usage, e.description)
            case .setup, .failed: return CLIError(.failure, e.description)
            }
        case let e as FuseDaemonError:
            return CLIError(.mountFailed, e.description)
        case let e as Errno:
            return CLIError(.failure, e.description)
        default:
            return CLIError(.failure, "\(error)")
        }
    }
}
