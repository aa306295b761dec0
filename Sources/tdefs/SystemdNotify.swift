import Glibc

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (a path, or "@" for abstract).
enum SystemdNotify {
    /// The socket systemd gave us, if any (read once, before the daemon starts).
    static func socketPath() -> String? {
        guard let raw = getenv("NOTIFY_SOCKET") else { return nil }
        let path = String(cString: raw)
        return path.isEmpty ? nil : path
    }

    /// The watchdog interval systemd asks for (WatchdogSec=): $WATCHDOG_USEC, when $WATCHDOG_PID
    /// is unset or names this process (sd_watchdog_enabled(3)).
    static func watchdogMicroseconds() -> UInt64? {
        guard let raw = getenv("WATCHDOG_USEC"), let usec = UInt64(String(cString: raw)), usec > 0 else { return nil }
        if let pid = getenv("WATCHDOG_PID"), Int32(String(cString: pid)) != getpid() { return nil }
        return usec
    }

    /// A function that sends WATCHDOG=1 to `path`.
    static func watchdogPing(to path: String) -> @Sendable () -> Void {
        { send("WATCHDOG=1", to: path) }
    }

    /// A message on one line (STATUS= takes one line; newlines separate assignments).
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func send(_ message: String, to path: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { dst in
            for (i, b) in bytes.enumerated() { dst[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        var msg = message
        msg.withUTF8 { p in
            withUnsafePointer(to: &addr) { a in
                a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    _ = sendto(fd, p.baseAddress, p.count, Int32(MSG_NOSIGNAL), sa, length)
                }
            }
        }
    }
}
