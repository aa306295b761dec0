import Glibc

/// ecryptfs-utils' wrapped-passphrase file (libecryptfs/key_management.c,
/// ecryptfs_wrap_passphrase / ecryptfs_unwrap_passphrase), the mount passphrase encrypted under a
/// login passphrase:
///
///     version 2:  ':' 0x02, salt (8), wrapping key signature (16 hex characters),
///                 encrypted passphrase (16..64 bytes)
///     version 1:  wrapping key signature (16 hex characters), encrypted passphrase; the salt is
///                 the default salt (or ~/.ecryptfsrc's, which this reader does not read)
///
/// The wrapping key is the login passphrase's ECryptfsPassphraseKey under that salt; the first 16
/// bytes of its FEKEK decrypt the passphrase in AES-128-ECB; the passphrase is zero-padded to a
/// multiple of 16 and ends at the first zero byte. A signature that does not match is a wrong
/// login passphrase.
public enum ECryptfsWrappedPassphrase {
    public struct Parsed: Equatable, Sendable {
        public let version: Int
        public let salt: [UInt8]
        public let signature: String
        public let encrypted: [UInt8]
    }

    public static func parse(_ b: [UInt8], path: String) throws(ECryptfsError) -> Parsed {
        var p = 0
        var version = 1
        var salt = ECryptfsPassphraseKey.defaultSalt
        if b.first == UInt8(ascii: ":") {
            guard b.count >= 2 else { throw .badKeyFile(path: path, what: "wrapped passphrase file truncated") }
            guard b[1] == 2 else { throw .badKeyFile(path: path, what: "wrapped passphrase file version \(b[1]) unsupported") }
            version = 2
            guard b.count >= 10 else { throw .badKeyFile(path: path, what: "wrapped passphrase file truncated") }
            salt = Array(b[2..<10])
            p = 10
        }
        guard b.count >= p + 16 + 16 else { throw .badKeyFile(path: path, what: "wrapped passphrase file truncated") }
        let sigBytes = b[p..<(p + 16)]
        guard sigBytes.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw .badKeyFile(path: path, what: "not an eCryptfs wrapped passphrase file (signature field)")
        }
        let enc = Array(b[(p + 16)...])
        guard enc.count % 16 == 0, enc.count <= ECryptfsPassphraseKey.maxPassphraseBytes else {
            throw .badKeyFile(path: path, what: "wrapped passphrase of \(enc.count) bytes (a multiple of 16 up to 64 expected)")
        }
        return Parsed(version: version, salt: salt, signature: String(decoding: sigBytes, as: UTF8.self), encrypted: enc)
    }

    /// The mount passphrase.
    public static func unwrap(_ parsed: Parsed, loginPassphrase: SecureBytes, path: String) throws(ECryptfsError) -> SecureBytes {
        let key = ECryptfsPassphraseKey(passphrase: loginPassphrase, salt: parsed.salt)
        guard key.signature == parsed.signature else {
            throw .badKeyFile(path: path, what: "the login passphrase does not unwrap this wrapped passphrase file (wrong login passphrase)")
        }
        let out = SecureBytes(count: parsed.encrypted.count)
        let ok = key.fekek.withUnsafeBytes { k in
            out.withUnsafeMutableBytes { o in
                parsed.encrypted.withUnsafeBytes { i in
                    ECryptfsCrypto.aesDecrypt(mode: .ecb, key: UnsafeRawBufferPointer(rebasing: k[0..<16]), iv: nil, input: i, output: o)
                }
            }
        }
        guard ok else { throw .badKeyFile(path: path, what: "wrapped passphrase could not be decrypted") }
        let n = out.withUnsafeBytes { $0.firstIndex(of: 0) ?? $0.count }
        guard n > 0 else { throw .badKeyFile(path: path, what: "wrapped passphrase is empty") }
        return out.prefix(n)
    }
}

/// Reads small secret files (passphrase files) into locked memory.
enum ECryptfsSecretFile {
    /// The file's bytes, at most `limit`.
    static func read(_ path: String, limit: Int = 4096) throws(ECryptfsError) -> SecureBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw .io(path: path, errno: errno) }
        defer { close(fd) }
        let buf = SecureBytes(count: limit + 1)
        var n = 0
        let err: Int32 = buf.withUnsafeMutableBytes { b in
            while n < b.count {
                let r = Glibc.read(fd, b.baseAddress! + n, b.count - n)
                if r < 0 { if errno == EINTR { continue }; return errno }
                if r == 0 { break }
                n += r
            }
            return 0
        }
        if err != 0 { throw .io(path: path, errno: err) }
        guard n <= limit else { throw .badKeyFile(path: path, what: "file larger than \(limit) bytes") }
        return buf.prefix(n)
    }

    /// A passphrase file: the passphrase alone on its first line, or ecryptfs-utils'
    /// `passphrase_passwd=...` form; one trailing newline (and CR) is dropped.
    static func passphrase(_ path: String) throws(ECryptfsError) -> SecureBytes {
        let raw = try read(path)
        let tag = Array("passphrase_passwd=".utf8)
        let range: Range<Int> = raw.withUnsafeBytes { b in
            var start = 0
            if b.count >= tag.count && b.prefix(tag.count).elementsEqual(tag) { start = tag.count }
            var end = b[start...].firstIndex(of: 0x0A) ?? b.count
            if end > start && b[end - 1] == 0x0D { end -= 1 }
            return start..<end
        }
        guard !range.isEmpty else { throw .badKeyFile(path: path, what: "passphrase file is empty") }
        guard range.count <= ECryptfsPassphraseKey.maxPassphraseBytes else {
            throw .badKeyFile(path: path, what: "passphrase longer than \(ECryptfsPassphraseKey.maxPassphraseBytes) bytes (eCryptfs' limit)")
        }
        let s = SecureBytes(count: range.count)
        s.withUnsafeMutableBytes { d in raw.withUnsafeBytes { d.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[range])) } }
        return s
    }
}
