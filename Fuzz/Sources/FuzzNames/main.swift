import FuzzSupport
import TDEFSCore

/// Encrypted names: the input, as a backing name, goes through classify, base64url decoding and
/// NameCodec.decrypt under the fixed keys; as plaintext, a valid name round-trips through
/// encrypt/decrypt; unpad and base64url are checked on the raw bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    let text = String(decoding: bytes, as: UTF8.self)
    let iv = FuzzKeys.directoryIV

    _ = NameCodec.classify(text)
    for keys in [FuzzKeys.epoch1, FuzzKeys.epoch2] {
        if let plain = NameCodec.decrypt(text, iv: iv, key: keys.nameCipher) {
            fuzzCheck((try? NameCodec.validate(plain)) != nil, "decrypt returned an invalid name")
            fuzzCheck(NameCodec.encrypt(plain, iv: iv, key: keys.nameCipher) == text, "decrypted name does not re-encrypt to itself")
        }
    }

    if let decoded = Base64URL.decode(bytes) {
        fuzzCheck(Array(Base64URL.encode(decoded).utf8) == bytes, "base64url is not canonical")
    }
    let encoded = Base64URL.encode(bytes)
    fuzzCheck(Base64URL.decode(encoded) == bytes, "base64url does not round-trip")
    fuzzCheck(!encoded.utf8.contains(0x2E) && NameCodec.classify(encoded) == .encrypted || encoded.isEmpty,
              "a base64url name is classified as reserved")

    if let unpadded = NameCodec.unpad(bytes) {
        fuzzCheck(NameCodec.pad(unpadded) == bytes, "unpad accepted bad padding")
    }

    if (try? NameCodec.validate(bytes)) != nil {
        let enc = NameCodec.encrypt(bytes, iv: iv, key: FuzzKeys.epoch1.nameCipher)
        fuzzCheck(NameCodec.decrypt(enc, iv: iv, key: FuzzKeys.epoch1.nameCipher) == bytes, "name does not round-trip")
        fuzzCheck(NameCodec.decrypt(enc, iv: iv, key: FuzzKeys.epoch2.nameCipher) == nil, "name opens under another key")
        let backing = NameCodec.backingName(forEncrypted: enc)
        fuzzCheck(NameCodec.classify(backing.name) == (backing.isLong ? .long : .encrypted), "backing name misclassified")
    }
    return 0
}

runFuzzer { fuzz($0, $1) }
