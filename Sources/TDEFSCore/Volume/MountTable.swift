import Glibc

/// The mounts of this mount namespace, from /proc/self/mountinfo. tdefs mounts have the file system
/// type `fuse.tdefs` and, as their source, the absolute path of their backing directory.
public struct MountEntry: Equatable, Sendable {
    public var mountPoint: String
    public var fsType: String
    public var source: String
    public init(mountPoint: String, fsType: String, source: String) {
        self.mountPoint = mountPoint; self.fsType = fsType; self.source = source
    }
    public var isTDEFS: Bool { fsType == MountTable.tdefsType }
}

public enum MountTable {
    public static let tdefsType = "fuse.tdefs"

    public static func read(path: String = "/proc/self/mountinfo") -> [MountEntry] {
        guard let f = fopen(path, "re") else { return [] }
        defer { fclose(f) }
        var text = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n <= 0 { break }
            text += buf[0..<n]
        }
        return parse(String(decoding: text, as: UTF8.self))
    }

    /// Parses mountinfo text: "id parent maj:min root mountpoint options [optional...] - fstype source superoptions".
    public static func parse(_ text: String) -> [MountEntry] {
        var out: [MountEntry] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 7, let dash = f.firstIndex(of: "-"), dash >= 6, dash + 2 < f.count else { continue }
            out.append(MountEntry(mountPoint: unescape(f[4]), fsType: unescape(f[dash + 1]), source: unescape(f[dash + 2])))
        }
        return out
    }

    /// The tdefs mount at `mountPoint` (lexically absolute), the last one if mounts are stacked.
    public static func tdefsMount(at mountPoint: String, in entries: [MountEntry] = read()) -> MountEntry? {
        entries.last { $0.isTDEFS && $0.mountPoint == mountPoint }
    }

    /// The tdefs mount of the backing directory `backingPath` (absolute, resolved).
    public static func tdefsMount(ofBacking backingPath: String, in entries: [MountEntry] = read()) -> MountEntry? {
        entries.last { $0.isTDEFS && $0.source == backingPath }
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: Substring) -> String {
        let b = Array(s.utf8)
        var out = [UInt8]()
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 4 <= b.count {
                let digits = b[(i + 1)..<(i + 4)]
                if digits.allSatisfy({ (48...55).contains($0) }) {
                    let v = digits.reduce(0) { $0 * 8 + Int($1 - 48) }
                    if v < 256 { out.append(UInt8(v)); i += 4; continue }
                }
            }
            out.append(b[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
