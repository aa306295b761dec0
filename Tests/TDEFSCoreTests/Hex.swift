import XCTest

/// Hex helpers for the vector tests. Whitespace inside hex strings is ignored.
enum Hex {
    static func bytes(_ s: String) -> [UInt8] {
        let digits = Array(s.unicodeScalars.filter { !$0.properties.isWhitespace })
        precondition(digits.count % 2 == 0, "odd-length hex string")
        var out = [UInt8]()
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            let v = UInt8(String(digits[i]) + String(digits[i + 1]), radix: 16)
            precondition(v != nil, "bad hex digit")
            out.append(v!)
            i += 2
        }
        return out
    }

    static func string(_ b: [UInt8]) -> String {
        b.map { String(format: "%02x", $0) }.joined()
    }
}
