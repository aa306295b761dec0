import Glibc

/// A one-line progress bar on a terminal's stderr: done/total, rate and ETA, redrawn at most ten
/// times a second. Silent when stderr is not a terminal (scripts, --json, systemd).
final class ProgressBar {
    let label: String
    let enabled: Bool
    let start = ProgressBar.now()
    var lastDraw = 0.0

    init(label: String, enabled: Bool = isatty(2) == 1) {
        self.label = label
        self.enabled = enabled
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// `items` is a count shown beside the bytes (files, extents...).
    func update(doneBytes: Int64, totalBytes: Int64, items: Int, itemName: String = "files", force: Bool = false) {
        guard enabled else { return }
        let t = Self.now()
        if !force && t - lastDraw < 0.1 { return }
        lastDraw = t
        let elapsed = max(t - start, 0.001)
        let fraction = totalBytes > 0 ? min(1, Double(doneBytes) / Double(totalBytes)) : 1
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let rate = Double(doneBytes) / elapsed
        let eta = rate > 0 && totalBytes > doneBytes ? Double(totalBytes - doneBytes) / rate : 0
        let line = "\r\(label) [\(bar)] \(Int(fraction * 100))% \(items) \(itemName), "
            + "\(Self.bytes(doneBytes))/\(Self.bytes(totalBytes)), \(Self.bytes(Int64(rate)))/s, ETA \(Int(eta.rounded()))s  "
        Console.put(2, line)
    }

    func finish() {
        if enabled { Console.put(2, "\n") }
    }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(Int(v * 10) / 10) + "." + String(Int(v * 10) % 10) + " " + units[i]
    }
}
