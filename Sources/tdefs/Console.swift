import Glibc

/// Writes to the standard streams with write(2): one call per message, no global FILE*.
enum Console {
    static func out(_ s: String) { put(1, s.hasSuffix("\n") ? s : s + "\n") }
    static func error(_ s: String) { put(2, s.hasSuffix("\n") ? s : s + "\n") }
    /// "tdefs: <message>" on stderr.
    static func fail(_ message: String) { error("tdefs: " + message) }
    static func warn(_ message: String) { error("tdefs: " + message) }

    static func put(_ fd: Int32, _ s: String) {
        var s = s
        s.withUTF8 { p in
            var done = 0
            while done < p.count {
                let n = write(fd, p.baseAddress! + done, p.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                done += n
            }
        }
    }
}
