/// The packet set after the fixed header (kernel keystore.c, ecryptfs_parse_packet_set): a
/// sequence of key packets; a tag 3 is followed by the tag 11 holding its key signature. The set
/// ends at the first octet that is not a packet tag this reader knows (the kernel does the same).
/// Tag 1 packets (public-key wrapped FEKs) are skipped over and reported as unsupported when no
/// passphrase packet exists.
public struct ECryptfsPacketSet: Equatable, Sendable {
    public struct PassphraseKey: Equatable, Sendable {
        public let tag3: ECryptfsTag3Packet
        public let signature: String
    }
    public let passphraseKeys: [PassphraseKey]
    public let publicKeyPackets: Int

    public static func parse(_ d: ArraySlice<UInt8>, path: String) throws(ECryptfsError) -> ECryptfsPacketSet {
        var p = d.startIndex
        var keys: [PassphraseKey] = []
        var tag1 = 0
        while p < d.endIndex {
            switch d[p] {
            case ECryptfsTag3Packet.type:
                let t3 = try ECryptfsTag3Packet.parse(d[p...], path: path)
                p += t3.packetSize
                let t11 = try ECryptfsTag11Packet.parse(d[p...], path: path)
                p += t11.packetSize
                guard t11.contents.count == 8 else {
                    throw .malformed(path: path, what: "key signature of \(t11.contents.count) bytes (8 expected)")
                }
                keys.append(PassphraseKey(tag3: t3, signature: t11.signatureHex))
            case 0x01:  // tag 1: public-key encrypted session key
                guard let (body, ls) = ECryptfsPacketLength.parse(d[(p + 1)...]), p + 1 + ls + body <= d.endIndex else {
                    throw .malformed(path: path, what: "tag 1 packet truncated")
                }
                p += 1 + ls + body
                tag1 += 1
            default:
                p = d.endIndex
            }
        }
        guard !keys.isEmpty else {
            if tag1 > 0 { throw .unsupported(path: path, what: "file key wrapped by a public key (tag 1), not a passphrase") }
            throw .malformed(path: path, what: "no key packet in the header")
        }
        return ECryptfsPacketSet(passphraseKeys: keys, publicKeyPackets: tag1)
    }
}
