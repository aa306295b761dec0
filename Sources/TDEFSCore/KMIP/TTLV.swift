/// KMIP's Tag-Type-Length-Value encoding (KMIP 1.1 specification, section 9.1): a 3-byte tag, a
/// 1-byte type, a 4-byte big-endian length of the value, then the value padded with zero bytes to
/// a multiple of 8. A structure's value is its items, one after another. No Debian package offers
/// a KMIP client library for Swift or C, so this codec is tdefs' own: pure (no I/O), strict (every
/// length, padding byte and boolean checked; bounded depth), pinned by the specification's
/// examples in TTLVTests and fuzzed by FuzzKMIP. A server's answer that breaks a rule is an error,
/// never a trap.
public struct TTLV: Equatable, Sendable {
    public enum Value: Equatable, Sendable {
        case structure([TTLV])
        case integer(Int32)
        case longInteger(Int64)
        /// Two's complement, big-endian, a multiple of 8 bytes (as on the wire).
        case bigInteger([UInt8])
        case enumeration(UInt32)
        case boolean(Bool)
        case textString(String)
        case byteString([UInt8])
        /// Seconds since the Unix epoch.
        case dateTime(Int64)
        /// Seconds.
        case interval(UInt32)
    }

    /// The 3-byte tag, such as 0x420069 (Protocol Version).
    public var tag: UInt32
    public var value: Value

    public init(_ tag: UInt32, _ value: Value) {
        precondition(tag <= 0xFF_FFFF, "a KMIP tag is 3 bytes")
        self.tag = tag
        self.value = value
    }

    /// Structures nest at most this deep: a hostile server cannot exhaust the stack.
    public static let maxDepth = 16
    static let headerBytes = 8

    public enum DecodeError: Error, Equatable, Sendable {
        case truncated
        case unknownType(UInt8)
        case badLength(type: UInt8, length: Int)
        case nonzeroPadding
        case badBoolean
        case notUTF8
        case tooDeep
        case trailingBytes
    }

    // MARK: Items of a structure

    /// The first item of this structure with `tag`; nil when there is none or this is not a structure.
    public subscript(tag: UInt32) -> TTLV? { items.first { $0.tag == tag } }

    /// The items of a structure (empty for any other type).
    public var items: [TTLV] {
        if case .structure(let items) = value { return items }
        return []
    }

    // MARK: Encoding

    /// The wire bytes, built in one buffer of the final size (no copies left behind by growth:
    /// an Encrypt request carries a data key).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength)
        encode(into: &out)
        return out
    }

    /// The length of encoded(): the header, the value and its padding.
    var encodedLength: Int {
        let length: Int
        switch value {
        case .structure(let items): length = items.reduce(0) { $0 + $1.encodedLength }
        case .integer, .enumeration, .interval: length = 4
        case .longInteger, .boolean, .dateTime: length = 8
        case .bigInteger(let b), .byteString(let b): length = b.count
        case .textString(let s): length = s.utf8.count
        }
        return Self.headerBytes + length + (8 - length % 8) % 8
    }

    func encode(into out: inout [UInt8]) {
        out += [UInt8(tag >> 16 & 0xFF), UInt8(tag >> 8 & 0xFF), UInt8(tag & 0xFF), typeCode]
        let lengthAt = out.count
        out += [0, 0, 0, 0]
        let start = out.count
        switch value {
        case .structure(let items): for item in items { item.encode(into: &out) }
        case .integer(let v): out += Self.bigEndian(UInt64(UInt32(bitPattern: v)), bytes: 4)
        case .longInteger(let v): out += Self.bigEndian(UInt64(bitPattern: v), bytes: 8)
        case .bigInteger(let b):
            precondition(!b.isEmpty && b.count % 8 == 0, "a Big Integer is sign-extended to a multiple of 8 bytes")
            out += b
        case .enumeration(let v): out += Self.bigEndian(UInt64(v), bytes: 4)
        case .boolean(let v): out += Self.bigEndian(v ? 1 : 0, bytes: 8)
        case .textString(let s): out += Array(s.utf8)
        case .byteString(let b): out += b
        case .dateTime(let v): out += Self.bigEndian(UInt64(bitPattern: v), bytes: 8)
        case .interval(let v): out += Self.bigEndian(UInt64(v), bytes: 4)
        }
        let length = out.count - start
        precondition(length <= Int(UInt32.max), "a TTLV value is at most 4 GiB")
        out.replaceSubrange(lengthAt..<(lengthAt + 4), with: Self.bigEndian(UInt64(length), bytes: 4))
        out += [UInt8](repeating: 0, count: (8 - length % 8) % 8)
    }

    var typeCode: UInt8 {
        switch value {
        case .structure: 0x01
        case .integer: 0x02
        case .longInteger: 0x03
        case .bigInteger: 0x04
        case .enumeration: 0x05
        case .boolean: 0x06
        case .textString: 0x07
        case .byteString: 0x08
        case .dateTime: 0x09
        case .interval: 0x0A
        }
    }

    static func bigEndian(_ v: UInt64, bytes: Int) -> [UInt8] {
        (0..<bytes).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64(bytes - 1 - $0))) }
    }

    // MARK: Decoding

    /// The one item that `bytes` holds exactly.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> TTLV {
        var at = 0
        let item = try decodeItem(bytes, at: &at, end: bytes.count, depth: 0)
        guard at == bytes.count else { throw .trailingBytes }
        return item
    }

    /// The length of the whole item whose first 8 bytes are `header` (a message's length, to read
    /// it off a stream), or nil when the header is too short or the length is over `limit`.
    public static func itemLength(header: [UInt8], limit: Int) -> Int? {
        guard header.count >= headerBytes else { return nil }
        let length = Int(readUInt(header, 4, 4))
        guard length <= limit - headerBytes else { return nil }
        return headerBytes + length + (8 - length % 8) % 8
    }

    static func readUInt(_ b: [UInt8], _ at: Int, _ n: Int) -> UInt64 {
        b[at..<(at + n)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    static func decodeItem(_ b: [UInt8], at: inout Int, end: Int, depth: Int) throws(DecodeError) -> TTLV {
        guard depth < maxDepth else { throw .tooDeep }
        guard end - at >= headerBytes else { throw .truncated }
        let tag = UInt32(readUInt(b, at, 3)), type = b[at + 3], length = Int(readUInt(b, at + 4, 4))
        let start = at + headerBytes
        let padded = length + (8 - length % 8) % 8
        guard padded <= end - start else { throw .truncated }
        guard b[(start + length)..<(start + padded)].allSatisfy({ $0 == 0 }) else { throw .nonzeroPadding }
        at = start + padded
        let fixed: [UInt8: Int] = [0x02: 4, 0x03: 8, 0x05: 4, 0x06: 8, 0x09: 8, 0x0A: 4]
        if let want = fixed[type], length != want { throw .badLength(type: type, length: length) }
        let value: Value
        switch type {
        case 0x01:
            guard length % 8 == 0 else { throw .badLength(type: type, length: length) }
            var items: [TTLV] = []
            var inner = start
            while inner < start + length { items.append(try decodeItem(b, at: &inner, end: start + length, depth: depth + 1)) }
            value = .structure(items)
        case 0x02: value = .integer(Int32(bitPattern: UInt32(readUInt(b, start, 4))))
        case 0x03: value = .longInteger(Int64(bitPattern: readUInt(b, start, 8)))
        case 0x04:
            guard length > 0, length % 8 == 0 else { throw .badLength(type: type, length: length) }
            value = .bigInteger(Array(b[start..<(start + length)]))
        case 0x05: value = .enumeration(UInt32(readUInt(b, start, 4)))
        case 0x06:
            let v = readUInt(b, start, 8)
            guard v <= 1 else { throw .badBoolean }
            value = .boolean(v == 1)
        case 0x07:
            guard let s = String(validating: b[start..<(start + length)], as: UTF8.self) else { throw .notUTF8 }
            value = .textString(s)
        case 0x08: value = .byteString(Array(b[start..<(start + length)]))
        case 0x09: value = .dateTime(Int64(bitPattern: readUInt(b, start, 8)))
        case 0x0A: value = .interval(UInt32(readUInt(b, start, 4)))
        default: throw .unknownType(type)
        }
        return TTLV(tag, value)
    }
}
