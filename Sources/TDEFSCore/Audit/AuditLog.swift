import Glibc
import Logging

/// Writes the audit stream (docs/audit.md): each event to the journal with fields of its own
/// (MESSAGE_ID per kind) when a journal socket is there, else as a line in the log (the daemon's)
/// or on standard error (a command's); and appended, fsynced, to the audit file. A failure to
/// write the audit file is an error the caller turns into a failed key operation.
public enum AuditLog {
    /// The systemd unit's LogsDirectory=: when it exists, the audit file is in it by default.
    public static let defaultDirectory = "/var/log/tdefs"
    public static let defaultFileName = "audit.jsonl"

    /// $TDEFS_AUDIT_FILE; when unset, /var/log/tdefs/audit.jsonl if /var/log/tdefs is a directory;
    /// set and empty: no audit file.
    public static var filePath: String? {
        if let value = getenv("TDEFS_AUDIT_FILE") {
            let path = String(cString: value)
            return path.isEmpty ? nil : path
        }
        var st = stat()
        // Only where this user may write: a user's own commands are not refused over root's log.
        guard stat(defaultDirectory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, access(defaultDirectory, W_OK) == 0 else { return nil }
        return defaultDirectory + "/" + defaultFileName
    }

    /// Checks that the audit file can be appended to (creating it, mode 0600), before a key
    /// operation changes anything.
    public static func checkWritable() throws(AuditError) {
        guard let path = filePath else { return }
        let fd = try open(path)
        close(fd)
    }

    /// Records `event`. Throws when the audit file cannot be written; the journal and the log are
    /// best effort (a journal that does not take the entry sends it to the log instead).
    public static func record(_ event: AuditEvent, logger: Logger? = nil) throws(AuditError) {
        let line = event.json.renderCompact()
        // The file first: an event it refused is not told to the journal as done.
        if let path = filePath { try append(line, to: path) }
        let socketPath = getenv("TDEFS_JOURNAL_SOCKET").map { String(cString: $0) } ?? JournalSocket.defaultPath
        let identifier = getenv("TDEFS_LOG_IDENTIFIER").map { String(cString: $0) } ?? "tdefs"
        let journaled = JournalSocket(path: socketPath)?.send(event.journalEntry(identifier: identifier, line: line)) ?? false
        if !journaled {
            if let logger {
                logger.notice("audit \(line)")
            } else {
                let text = "tdefs: audit " + line + "\n"
                _ = text.withCString { write(2, $0, strlen($0)) }
            }
        }
    }

    static func append(_ line: String, to path: String) throws(AuditError) {
        let fd = try open(path)
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        // O_APPEND: one write per event, so concurrent writers never interleave within a line.
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw AuditError(path: path, operation: "write", errno: .current) }
            done += n
        }
        guard fsync(fd) == 0 else { throw AuditError(path: path, operation: "fsync", errno: .current) }
    }

    static func open(_ path: String) throws(AuditError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
        guard fd >= 0 else { throw AuditError(path: path, operation: "open", errno: .current) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw AuditError(path: path, operation: "open", errno: Errno(EINVAL))
        }
        return fd
    }
}

/// The audit file could not be written: the key operation it records fails.
public struct AuditError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let errno: Errno

    public var description: String {
        "cannot \(operation) the audit file \(path) (\(errno)); fix it or set TDEFS_AUDIT_FILE"
    }
}
