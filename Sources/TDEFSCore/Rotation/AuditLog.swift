import Glibc
import Logging

/// Key events (init, unlock, failed unlock, passwd, rotate, retire, export) as one JSON line each:
/// in the log, and appended to the audit file named by TDEFS_AUDIT_FILE when set. Never any key
/// material: only the event, time, volume, epoch and counts.
public enum AuditLog {
    public static func record(_ event: String, volume: String, backing: String, epoch: UInt32?,
                              details: [(String, String)] = [], logger: Logger? = nil) {
        var fields: [(String, JSONText)] = [("time", .string(Volume.timestamp())), ("event", .string(event)),
                                            ("volume", .string(volume)), ("backing", .string(backing))]
        if let epoch { fields.append(("epoch", .uint(epoch))) }
        fields += details.map { ($0.0, Int64($0.1).map { JSONText.int($0) } ?? .string($0.1)) }
        let line = JSONText.object(fields).renderCompact()
        if let logger {
            logger.notice("audit \(line)")
        } else {
            let text = "tdefs: audit " + line + "\n"
            _ = text.withCString { write(2, $0, strlen($0)) }
        }
        guard let path = getenv("TDEFS_AUDIT_FILE").map({ String(cString: $0) }), !path.isEmpty else { return }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let out = line + "\n"
        _ = out.withCString { write(fd, $0, strlen($0)) }
        _ = fsync(fd)
    }
}
