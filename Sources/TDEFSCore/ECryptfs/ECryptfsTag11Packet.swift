/// Tag 11 packet, the literal data packet that carries the key signature after a tag 3
/// (kernel keystore.c, parse_tag_11_packet):
///
///     0xED, length (1-2 octets), body: 0x62 ('b'), 0x08, "_CONSOLE", 4-octet date, contents
///
/// For a passphrase key the contents are the 8-byte key signature (16 hex digits in
/// ecryptfs-utils' and the kernel's messages).
public struct ECryptfsTag11Packet: Equatable, Sendable {
    public static let type: UInt8 = 0xED
    public let contents: [UInt8]
    public let packetSize: Int
    /// The contents in hex, the signature as `ecryptfs-add-passphrase` prints it.
    public var signatureHex: String { ECryptfsCrypto.hex(contents) }

    public static func parse(_ d: ArraySlice<UInt8>, path: String) throws(ECryptfsError) -> ECryptfsTag11Packet {
        let s = d.startIndex
        guard d.count >= 2, d[s] == type else { throw .malformed(path: path, what: "tag 11 packet expected after tag 3") }
        guard let (body, ls) = ECryptfsPacketLength.parse(d[(s + 1)...]) else {
            throw .malformed(path: path, what: "tag 11 packet length unreadable")
        }
        guard body >= 14 else { throw .malformed(path: path, what: "tag 11 packet body too short (\(body))") }
        guard 1 + ls + body <= d.count else { throw .malformed(path: path, what: "tag 11 packet truncated") }
        let p = s + 1 + ls
        guard d[p] == 0x62, d[p + 1] == 0x08 else { throw .malformed(path: path, what: "tag 11 packet format") }
        let contents = Array(d[(p + 14)..<(p + body)])
        return ECryptfsTag11Packet(contents: contents, packetSize: 1 + ls + body)
    }
}
