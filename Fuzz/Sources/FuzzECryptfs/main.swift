import FuzzSupport
import TDEFSCore

/// The eCryptfs codec. The first byte picks the structure, the rest is its bytes:
///   0  a file header with its packet set (as from the lower file: header size checked)
///   1  the same from the user.ecryptfs xattr (header size not checked)
///   2  a lower name or symlink target (FNEK prefix, eCryptfs base64, tag 70 packet)
///   3  a wrapped-passphrase file
/// No parser traps; accepted structures satisfy their invariants.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let b = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 4 {
    case 0, 1:
        guard let h = try? ECryptfsFileHeader.parse(b, path: "f", validateHeaderSize: data[0] % 4 == 0) else { return 0 }
        fuzzCheck(h.version >= 1 && h.version <= 3, "version out of range accepted")
        if data[0] % 4 == 0 { fuzzCheck(h.metadataSize >= 8192, "small header accepted") }
        if let ps = try? ECryptfsPacketSet.parse(b[ECryptfsFileHeader.packetSetOffset...], path: "f") {
            for k in ps.passphraseKeys {
                fuzzCheck([16, 24, 32].contains(k.tag3.keyBytes), "key size")
                fuzzCheck(k.tag3.encryptedKey.count >= k.tag3.keyBytes && k.tag3.encryptedKey.count % 16 == 0, "wrapped key size")
                fuzzCheck(k.signature.utf8.count == 16, "signature size")
            }
        }
    case 2:
        if ECryptfsFilenameEncoding.isEncrypted(b), let packet = ECryptfsFilenameEncoding.decode(b.dropFirst(24)) {
            if let t = try? ECryptfsTag70Packet.parse(packet, path: "n") {
                fuzzCheck(t.encryptedName.count % 16 == 0 && !t.encryptedName.isEmpty, "tag 70 name size")
            }
        }
        _ = ECryptfsFilenameEncoding.decode(b)
    default:
        if let w = try? ECryptfsWrappedPassphrase.parse(b, path: "w") {
            fuzzCheck(w.salt.count == 8 && w.encrypted.count % 16 == 0 && w.encrypted.count <= 64, "wrapped passphrase fields")
        }
    }
    return 0
}

runFuzzer { fuzz($0, $1) }
