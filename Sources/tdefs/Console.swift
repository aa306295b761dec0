import Glibc

/// Writes to the standard streams with write(2): one call per message, no global FILE*.
enum Console {
    static func out(_ s: String) { put(1, s.hasSuffix("\n") ? s : s + "\n") }
    static func error(_ s: String) { put(2, s.hasSuffix("\n") ? s : s + "\n") }
    /// "tdefs: <message>" on stderr (with the journal's priority prefix when stderr is the journal).
    static func fail(_ message: String) { error(journalPrefix(3) + "tdefs: " + message) }
    static func warn(_ message: String) { error(journalPrefix(4) + "tdefs: " + message) }

    private static func journalPrefix(_ priority: Int) -> String {
        JournalStream.isStderr() ? "<\(priority)>" : ""
    }

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
