import Glibc
import Logging

/// "<time> tdefs[<pid>] <level> <volume>: <message> [key=value ...]" on stderr, one write per line.
/// Level from TDEFS_LOG_LEVEL (trace, debug, info, notice, warning, error, critical; default info).
struct DaemonLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let volume: String

    init(volume: String, level: Logger.Level = DaemonLogHandler.levelFromEnvironment()) {
        self.volume = volume
        self.logLevel = level
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
        var line = "\(Self.timestamp()) tdefs[\(getpid())] \(event.level) \(volume): \(event.message)"
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
