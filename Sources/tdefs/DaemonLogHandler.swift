import Glibc
import Logging

/// "<time> tdefs[<pid>] <level> <volume>: <message> [key=value ...]" on stderr, one write per line.
/// Level from TDEFS_LOG_LEVEL (trace, debug, info, notice, warning, error, critical; default info).
///
/// When stderr is systemd's journal stream (run by systemd: $JOURNAL_STREAM names stderr's device
/// and inode), lines are "<N><volume>: <message> [key=value ...]" instead: the journal adds the time,
/// the identifier and the PID itself, and takes the syslog priority N from the prefix (sd-daemon(3)).
struct DaemonLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let volume: String
    let journal: Bool

    init(volume: String, level: Logger.Level = DaemonLogHandler.levelFromEnvironment(),
         journal: Bool = JournalStream.isStderr()) {
        self.volume = volume
        self.logLevel = level
        self.journal = journal
    }

    /// syslog(3) priorities for the journal's "<N>" prefix.
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
        var line = journal
            ? "<\(Self.syslogPriority(event.level))>\(volume): \(event.message)"
            : "\(Self.timestamp()) tdefs[\(getpid())] \(event.level) \(volume): \(event.message)"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        line += "\n"
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
