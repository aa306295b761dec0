/// One entry of systemd's native journal protocol (systemd.journal-fields(7); the protocol of
/// sd_journal_send): fields `NAME=value\n`, or, for a value holding a newline,
/// `NAME\n` + its length (64-bit little-endian) + the value + `\n`. Field names are uppercase
/// letters, digits and `_`, not starting with `_` (those are journald's own), at most 64 bytes.
public struct JournalEntry: Equatable, Sendable {
    public private(set) var fields: [(name: String, value: [UInt8])] = []

    public init() {}

    public static func == (a: JournalEntry, b: JournalEntry) -> Bool {
        a.fields.elementsEqual(b.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Adds a field; `name` is made valid first (see `fieldName`).
    public mutating func add(_ name: String, _ value: String) {
        fields.append((Self.fieldName(name), Array(value.utf8)))
    }

    /// A valid field name from any key: uppercased, other characters as `_`, a leading `_` or
    /// digit prefixed with `F`, empty as `F`, cut to 64 bytes.
    public static func fieldName(_ key: String) -> String {
        var out: [UInt8] = key.utf8.map { c in
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - 32
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return c
            default: return UInt8(ascii: "_")
            }
        }
        if out.first.map({ $0 == UInt8(ascii: "_") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) ?? true {
            out.insert(UInt8(ascii: "F"), at: 0)
        }
        return String(decoding: out.prefix(64), as: UTF8.self)
    }

    /// The datagram journald reads.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out += Array(name.utf8)
            if value.contains(0x0A) {
                out.append(0x0A)
                var n = UInt64(value.count).littleEndian
                withUnsafeBytes(of: &n) { out += $0 }
                out += value
            } else {
                out.append(UInt8(ascii: "="))
                out += value
            }
            out.append(0x0A)
        }
        return out
    }
}
