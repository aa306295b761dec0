import Glibc
import Logging
import TDEFSCore

/// Where the daemon's log lines go (docs/operations.md, "Logs"):
/// - `.text`: "<time> tdefs[<pid>] <level> <volume>: <message> [key=value ...]" on stderr (a
///   terminal with --foreground, or $TDEFS_LOG_FILE for a background mount);
/// - `.journal`: systemd's journal through its native socket, one entry per line with the message
///   ("<volume>: <message> [key=value ...]"), PRIORITY, SYSLOG_IDENTIFIER, TDEFS_VOLUME and every
///   metadata key as a field of its own (path -> TDEFS_PATH, extent -> TDEFS_EXTENT, errno -> ERRNO);
/// - `.journalStream`: "<N><volume>: <message> [key=value ...]" on stderr when stderr is the
///   journal's stream but its native socket cannot be reached (the journal adds time and PID).
struct DaemonLogHandler: LogHandler {
    enum Destination: @unchecked Sendable {
        case text
        case journalStream
        case journal(JournalSocket, identifier: String)
    }

    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let volume: String
    let destination: Destination

    init(volume: String, destination: Destination, level: Logger.Level = DaemonLogHandler.levelFromEnvironment()) {
        self.volume = volume
        self.logLevel = level
        self.destination = destination
    }

    /// The destination for a daemon: `background` is a mount that returned to its caller (its
    /// stderr is $TDEFS_LOG_FILE, or nothing).
    static func destination(background: Bool) -> Destination {
        let logFile = getenv("TDEFS_LOG_FILE").map { $0.pointee != 0 } ?? false
        let journalStream = JournalStream.isStderr()
        if (background && !logFile) || journalStream {
            let path = getenv("TDEFS_JOURNAL_SOCKET").map { String(cString: $0) } ?? JournalSocket.defaultPath
            if let socket = JournalSocket(path: path) {
                let identifier = getenv("TDEFS_LOG_IDENTIFIER").map { String(cString: $0) } ?? "tdefs"
                return .journal(socket, identifier: identifier)
            }
        }
        return journalStream ? .journalStream : .text
    }

    /// syslog(3) priorities, for the journal's PRIORITY and the "<N>" prefix.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func levelFromEnvironment() -> Logger.Level {
        guard let raw = getenv("TDEFS_LOG_LEVEL") else { return .info }
        return Logger.Level(rawValue: String(cString: raw).lowercased()) ?? .info
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let sorted = all.sorted(by: { $0.key < $1.key })
        var message = "\(volume): \(event.message)"
        for (key, value) in sorted { message += " \(key)=\(value)" }
        switch destination {
        case .journal(let socket, let identifier):
            var entry = JournalEntry()
            entry.add("MESSAGE", message)
            entry.add("PRIORITY", String(Self.syslogPriority(event.level)))
            entry.add("SYSLOG_IDENTIFIER", identifier)
            entry.add("TDEFS_VOLUME", volume)
            for (key, value) in sorted { entry.add(key == "errno" ? "ERRNO" : "TDEFS_" + key, "\(value)") }
            if socket.send(entry) { return }
            writeLine("\(Self.timestamp()) tdefs[\(getpid())] \(event.level) \(message)")  // the journal refused it
        case .journalStream:
            writeLine("<\(Self.syslogPriority(event.level))>\(message)")
        case .text:
            writeLine("\(Self.timestamp()) tdefs[\(getpid())] \(event.level) \(message)")
        }
    }

    private func writeLine(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
    }

    /// UTC with milliseconds: 2026-11-22T12:00:00.123Z.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(tm.tm_year + 1900)-\(pad(Int(tm.tm_mon) + 1, 2))-\(pad(Int(tm.tm_mday), 2))T"
            + "\(pad(Int(tm.tm_hour), 2)):\(pad(Int(tm.tm_min), 2)):\(pad(Int(tm.tm_sec), 2)).\(pad(ts.tv_nsec / 1_000_000, 3))Z"
    }
}

/// $JOURNAL_STREAM ("<device>:<inode>", set by systemd for StandardError=journal): whether this
/// process's stderr is still that stream (a child that redirected stderr elsewhere is not).
enum JournalStream {
    static func isStderr() -> Bool {
        guard let raw = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: raw).split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}
