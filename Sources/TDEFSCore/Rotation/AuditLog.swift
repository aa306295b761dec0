import Glibc
import Logging

/// Key events (init, unlock, failed unlock, passwd, rotate, retire, export) as one JSON line each:
/// in the log, and appended to the audit file named by TDEFS_AUDIT_FILE when set. Never any key
/// material: only the event, time, volume, epoch and counts.
public enum AuditLog {
    public static func record(_ event: String, volume: String, backing: String, epoch: UInt32?,
                              details: [(String, String)] = [], logger: Logger? = nil) {
        var fields: [(String, String)] = [("time", Volume.timestamp()), ("event", event), ("volume", volume),
                                          ("backing", backing)]
        if let epoch { fields.append(("epoch", String(epoch))) }
        fields += details
        let line = "{" + fields.map { "\"\(escape($0.0))\":" + (isNumber($0.1) ? $0.1 : "\"\(escape($0.1))\"") }
            .joined(separator: ",") + "}"
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

    static func isNumber(_ s: String) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }

    static func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }
}
