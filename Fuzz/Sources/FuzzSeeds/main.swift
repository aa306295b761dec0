import FuzzSupport
import Glibc
import TDEFSCore

// Writes the seed corpus: FuzzSeeds DIR makes DIR/<target>/<seed> for every fuzz target.
// Valid inputs (under the fixed keys of FuzzSupport, so decoders get past authentication) and
// near-valid ones (truncated, one field off). scripts/fuzz.sh --seeds regenerates Fuzz/corpus.

guard CommandLine.arguments.count == 2 else {
    print("usage: FuzzSeeds CORPUS_DIR")
    exit(2)
}
let root = CommandLine.arguments[1]

func write(_ target: String, _ name: String, _ bytes: [UInt8]) {
    mkdir(root, 0o755)
    mkdir(root + "/" + target, 0o755)
    let path = root + "/" + target + "/" + name
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot write \(path)")
    _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
func write(_ target: String, _ name: String, _ text: String) { write(target, name, Array(text.utf8)) }

// tdefs.conf: real volumes made by Volume.create (key file / hkdf, passphrase / scrypt, AES-192),
// a config with two epochs and a rotation, and damaged variants.
var tmpl = Array("/tmp/tdefs-fuzzseeds-XXXXXX".utf8CString)
let tmp = tmpl.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
func readAll(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0)
    defer { close(fd) }
    var out = [UInt8](), buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { return out }
        out += buf[0..<n]
    }
}
var configs: [(String, [UInt8])] = []
for (name, kdf, cipher) in [("hkdf-aes256", VolumeConfig.KeyDerivation.hkdfSHA256, AESKeySize.aes256),
                            ("scrypt-aes256", .scrypt, .aes256), ("hkdf-aes192", .hkdfSHA256, .aes192)] {
    let dir = tmp + "/" + name
    let secret = SecureBytes(copying: (1...32).map { UInt8($0) })
    _ = try Volume.create(backingPath: dir, secret: secret, kdf: kdf, cipher: cipher,
                          scrypt: KDF.ScryptParameters(n: 1024, r: 8, p: 1))
    configs.append((name, readAll(dir + "/" + VolumeConfig.fileName)))
}
_ = system("rm -rf '\(tmp)'")
for (name, bytes) in configs { write("FuzzConfig", name + ".conf", bytes) }
let base = try VolumeConfig.parse(configs[0].1, path: "seed")
var two = base
two.epochs.append(.init(epoch: 2, created: "2026-01-02T00:00:00Z", cipher: .aes192,
                        wrappedKey: [UInt8](repeating: 7, count: VolumeConfig.wrappedKeyBytes)))
two.currentEpoch = 2
two.rotation = .init(state: "rewrapping", done: 3, total: 10, toEpoch: 2)
write("FuzzConfig", "two-epochs-rotation.conf", two.encoded())
var kmip = base
kmip.keySource = .init(kdf: .kmip, salt: base.keySource.salt, scrypt: nil,
                       kmip: KMIPRecord(keyID: "42", mode: .encrypt, iv: [UInt8](repeating: 3, count: 16),
                                        wrappedSecret: [UInt8](repeating: 5, count: 48)))
write("FuzzConfig", "kmip-encrypt.conf", kmip.encoded())
kmip.keySource.kmip = KMIPRecord(keyID: "tdefs-key", mode: .get)
write("FuzzConfig", "kmip-get.conf", kmip.encoded())
let text = String(decoding: configs[0].1, as: UTF8.self)
/// The first occurrence of `old` in `s` replaced by `new` (no Foundation: FuzzSeeds links without it).
func replacing(_ s: String, _ old: String, with new: String) -> String {
    let b = Array(s.utf8), o = Array(old.utf8)
    guard o.count <= b.count, let i = (0...(b.count - o.count)).first(where: { Array(b[$0..<($0 + o.count)]) == o }) else { return s }
    return String(decoding: b[..<i] + Array(new.utf8) + b[(i + o.count)...], as: UTF8.self)
}
write("FuzzConfig", "truncated.conf", Array(configs[0].1.prefix(configs[0].1.count / 2)))
write("FuzzConfig", "newer-version.conf", replacing(text, "\"formatVersion\": 2", with: "\"formatVersion\": 3"))
write("FuzzConfig", "epoch-zero.conf", replacing(text, "\"epoch\": 1", with: "\"epoch\": 0"))
write("FuzzConfig", "bad-base64.conf", replacing(text, "\"volumeID\": \"", with: "\"volumeID\": \"=="))
write("FuzzConfig", "minimal-wrong.json", "{\"format\":\"tdefs\",\"formatVersion\":1}")

// Headers: real ones under both fixed epochs, one followed by an extent, and damaged variants.
let (h1, _) = FileHeader.create(keys: FuzzKeys.epoch1)
let (h2, _) = FileHeader.create(keys: FuzzKeys.epoch2)
write("FuzzHeader", "epoch1-aes256", h1.bytes)
write("FuzzHeader", "epoch2-aes192", h2.bytes)
write("FuzzHeader", "epoch1-aes256-v1", FileHeader.create(keys: FuzzKeys.epoch1, version: 1).0.bytes)
write("FuzzHeader", "with-extent", h1.bytes + [UInt8](repeating: 0x5A, count: 4096 + 32))
var bad = h1.bytes; bad[40] ^= 1
write("FuzzHeader", "flipped-wrap", bad)
bad = h1.bytes; bad[6] = 3
write("FuzzHeader", "bad-cipher-id", bad)
write("FuzzHeader", "short", Array(h1.bytes.prefix(95)))

// Names: encrypted names of several lengths under the fixed directory IV, reserved names.
let iv = FuzzKeys.directoryIV
for (i, n) in ["a", "base", String(repeating: "x", count: 31), String(repeating: "y", count: 32),
               String(repeating: "z", count: 100), "pg_wal", "ünïcödé"].enumerated() {
    write("FuzzNames", "name\(i)", NameCodec.encrypt(Array(n.utf8), iv: iv, key: FuzzKeys.epoch1.nameCipher))
}
write("FuzzNames", "epoch2-name", NameCodec.encrypt(Array("other".utf8), iv: iv, key: FuzzKeys.epoch2.nameCipher))
for r in ["tdefs.conf", "tdefs.diriv", "tdefs.lock", "tdefs.tmp.0011223344556677", "tdefs.long.abc.name", "plain-file"] {
    write("FuzzNames", r, r)
}
write("FuzzNames", "padded", NameCodec.pad(Array("hello".utf8)))

// Long names: side-file contents (the full encrypted name) and "backing NUL content" pairs.
for len in [180, 200, 255] {
    let enc = NameCodec.encrypt([UInt8](repeating: 0x61, count: len), iv: iv, key: FuzzKeys.epoch1.nameCipher)
    write("FuzzLongName", "side\(len)", enc)
    let b = NameCodec.backingName(forEncrypted: enc)
    write("FuzzLongName", "pair\(len)", Array(b.name.utf8) + [0] + Array(enc.utf8))
}
write("FuzzLongName", "pair-mismatch", Array("tdefs.long.AAAA".utf8) + [0] + Array("BBBB".utf8))
write("FuzzLongName", "short-name", Array(NameCodec.encrypt(Array("s".utf8), iv: iv, key: FuzzKeys.epoch1.nameCipher).utf8))

// Directory IVs.
write("FuzzDirIV", "epoch1", DirectoryIV(epoch: 1, iv: iv).bytes)
write("FuzzDirIV", "epoch-max", DirectoryIV(epoch: .max, iv: iv).bytes)
write("FuzzDirIV", "long", DirectoryIV(epoch: 1, iv: iv).bytes + [0])
write("FuzzDirIV", "version2", DirectoryIV(epoch: 1, iv: iv).authenticated(keys: FuzzKeys.epoch1).bytes)

// Symlink targets (stored form) and xattr names/values.
for (i, t) in ["/etc/passwd", "../relative/target", String(repeating: "t", count: 3035)].enumerated() {
    write("FuzzSymlink", "target\(i)", try SymlinkCodec.encrypt(Array(t.utf8), keys: FuzzKeys.epoch1))
}
write("FuzzSymlink", "target-epoch2", try SymlinkCodec.encrypt(Array("x".utf8), keys: FuzzKeys.epoch2))
let dirKeys = XattrKeys.forDirectory(keys: FuzzKeys.epoch1, iv: DirectoryIV(epoch: 1, iv: [UInt8](repeating: 0, count: 16)))
write("FuzzSymlink", "xattr-name", try XattrCodec.encryptName("user.comment", keys: dirKeys))
write("FuzzSymlink", "xattr-value", XattrCodec.sealValue(Array("value".utf8), backingName: "user.fuzz", keys: dirKeys))

// Control-socket requests and replies.
let key = Base64URL.encode([UInt8](repeating: 9, count: 32))
for (i, r) in [ControlRequest(op: .status), ControlRequest(op: .addEpoch, epoch: 2, cipher: "AES-256-GCM", key: key),
               ControlRequest(op: .retire, epoch: 1), ControlRequest(op: .reencrypt, epoch: 2)].enumerated() {
    write("FuzzControl", "request\(i)", r.encoded())
}
write("FuzzControl", "reply-status", ControlReply(ok: true, currentEpoch: 2, epochs: [1, 2], reencrypt: "running", files: 3, bytes: 4096).encoded())
write("FuzzControl", "reply-error", ControlReply(ok: false, error: "no such epoch").encoded())
write("FuzzControl", "reply-census", ControlReply(ok: true, currentEpoch: 2, epochs: [1, 2], census: .init(
    state: "current", countedAt: "2026-11-22T12:00:00Z", epochs: [.init(epoch: 2, files: 3, directories: 1, symlinks: 0)],
    damagedHeaders: 0, unreadable: 0, recounting: false)).encoded())
write("FuzzControl", "request-recount", ControlRequest(op: .recount).encoded())

// Metrics endpoint: request heads and -o metrics= values.
write("FuzzMetrics", "get", "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain;version=0.0.4\r\n\r\n")
write("FuzzMetrics", "head-lf", "HEAD /metrics?x=1 HTTP/1.0\n\n")
write("FuzzMetrics", "post", "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
write("FuzzMetrics", "unix", "unix:/run/tdefs/pg.metrics")
write("FuzzMetrics", "loopback", "127.0.0.1:9470")
write("FuzzMetrics", "loopback6", "[::1]:9470")
write("FuzzControl", "add-epoch-short-key", "{\"op\":\"add-epoch\",\"epoch\":2,\"cipher\":\"AES-256-GCM\",\"key\":\"AAAA\"}\n")
// eCryptfs: first byte selects header (0), xattr header (1), lower name (2), wrapped passphrase (3).
let ecKey = ECryptfsPassphraseKey(passphrase: SecureBytes(copying: Array("fuzz".utf8)), salt: ECryptfsPassphraseKey.defaultSalt)
for kb in [16, 24, 32] {
    write("FuzzECryptfs", "header-aes\(kb * 8)", [0] + ECryptfsEncoder.header(size: 5000, fek: [UInt8](repeating: 1, count: kb), key: ecKey))
    write("FuzzECryptfs", "name-aes\(kb * 8)", [2] + ECryptfsEncoder.encryptName(Array("pg_wal".utf8), fnek: ecKey, keyBytes: kb))
}
write("FuzzECryptfs", "xattr-header", [1] + ECryptfsEncoder.header(size: 1, fek: [UInt8](repeating: 2, count: 16), key: ecKey, inXattr: true))
write("FuzzECryptfs", "wrapped-v2", [3] + ECryptfsEncoder.wrappedPassphrase(Array("mount".utf8), login: SecureBytes(copying: Array("login".utf8)), salt: [1, 2, 3, 4, 5, 6, 7, 8]))
// KMIP TTLV: the specification's examples (KMIP 1.1, 9.1.2) and a request header.
write("FuzzKMIP", "structure", TTLV(0x420020, .structure([TTLV(0x420004, .enumeration(254)), TTLV(0x420005, .integer(255))])).encoded())
write("FuzzKMIP", "text", TTLV(0x420020, .textString("Hello World")).encoded())
write("FuzzKMIP", "big-integer", TTLV(0x420020, .bigInteger([0, 0, 0, 0, 3, 0xFD, 0x35, 0xEB, 0x6B, 0xC2, 0xDF, 0x46, 0x18, 8, 0, 0])).encoded())
write("FuzzKMIP", "request-header", TTLV(0x420078, .structure([TTLV(0x420077, .structure([
    TTLV(0x420069, .structure([TTLV(0x42006A, .integer(1)), TTLV(0x42006B, .integer(1))])),
    TTLV(0x420010, .boolean(true)), TTLV(0x42000D, .integer(1)), TTLV(0x420092, .dateTime(1_205_495_800)),
    TTLV(0x420094, .byteString([1, 2, 3])), TTLV(0x420009, .longInteger(-1)), TTLV(0x420033, .interval(864_000))]))])).encoded())
print("seeds written to \(root)")

/// Not a fuzz target, but linked with libFuzzer like the others (the whole package gets
/// -sanitize=fuzzer), whose archive wants this symbol.
@_cdecl("LLVMFuzzerTestOneInput")
public func unusedFuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { 0 }
