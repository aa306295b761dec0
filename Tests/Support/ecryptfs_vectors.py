#!/usr/bin/env python3
"""Independent eCryptfs reference values for Tests/TDEFSCoreTests/ECryptfsCodecTests.swift.

Written from the kernel and ecryptfs-utils sources, not from the Swift reader:
  - ecryptfs-utils src/libecryptfs/main.c generate_passphrase_sig: SHA-512(salt || passphrase),
    then 65,535 more SHA-512 over the 64-byte digest; FEKEK = digest; signature = hex of the first
    8 bytes of SHA-512(FEKEK).
  - ecryptfs_add_passphrase.c / key_management.c: the FNEK salt is the string
    ECRYPTFS_DEFAULT_SALT_FNEK_HEX "9988776655443322" passed where 8 salt bytes are read.
  - kernel fs/ecryptfs/keystore.c ecryptfs_write_tag_70_packet: 16 + 1 bytes of prefix padded to
    the AES block size; prefix bytes from MD5(session_key_encryption_key (64 bytes)), re-hashed
    every 16 bytes, 0x00 replaced by 0x42; a 0x00 separator; the name; AES-ECB under the first
    key-size bytes of the FEKEK; packet 0x46, length, FNEK signature (8), cipher code, ciphertext.
  - kernel fs/ecryptfs/crypto.c ecryptfs_encode_for_filename / portable_filename_chars;
    ecryptfs_compute_root_iv (MD5 of the FEK); ecryptfs_derive_iv (MD5 of root IV || "%lld" of
    the extent number zero-padded to 16 bytes); extents AES-CBC.
  - keystore.c write_tag_3_packet / write_tag_11_packet; crypto.c ecryptfs_write_headers_virt.
  - ecryptfs-utils key_management.c ecryptfs_wrap_passphrase (v2 file: ':' 0x02 salt sig enc;
    AES-128-ECB under the first 16 bytes of the wrapping key; zero padding to 16).
Run: python3 Tests/Support/ecryptfs_vectors.py
"""
import hashlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DEFAULT_SALT = bytes.fromhex("0011223344556677")
FNEK_SALT = b"9988776655443322"[:8]


def derive(passphrase: bytes, salt: bytes):
    h = hashlib.sha512(salt + passphrase).digest()
    for _ in range(65535):
        h = hashlib.sha512(h).digest()
    return h, hashlib.sha512(h).digest()[:8].hex()


def ecb(key, data):
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(data) + e.finalize()


def cbc(key, iv, data):
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


def plen(n):
    if n < 192:
        return bytes([n])
    return bytes([(n - 192) // 256 + 192, (n - 192) % 256])


CHARS = b"-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def encode(src: bytes) -> bytes:
    if len(src) % 3:
        src = src + bytes(3 - len(src) % 3)
    out = bytearray()
    for i in range(0, len(src), 3):
        a, b, c = src[i:i + 3]
        out += bytes([CHARS[a >> 2], CHARS[((a << 4) & 0x30) | (b >> 4)],
                      CHARS[((b << 2) & 0x3c) | (c >> 6)], CHARS[c & 0x3f]])
    return bytes(out)


def tag70_name(name: bytes, fekek: bytes, sig: str, key_bytes: int) -> bytes:
    num_rand = 16 + 1
    if (num_rand + len(name)) % 16:
        num_rand += 16 - (num_rand + len(name)) % 16
    h = hashlib.md5(fekek).digest()
    prefix = bytearray()
    for j in range(num_rand - 1):
        b = h[j % 16]
        if j % 16 == 15:
            h = hashlib.md5(h).digest()
        prefix.append(b if b else 0x42)
    plain = bytes(prefix) + b"\x00" + name
    code = {16: 7, 24: 8, 32: 9}[key_bytes]
    body = bytes.fromhex(sig) + bytes([code]) + ecb(fekek[:key_bytes], plain)
    return b"ECRYPTFS_FNEK_ENCRYPTED." + encode(b"\x46" + plen(len(body)) + body)


def extent_iv(fek: bytes, n: int) -> bytes:
    root = hashlib.md5(fek).digest()
    s = str(n).encode()[:15]
    return hashlib.md5(root + s + bytes(16 - len(s))).digest()


def main():
    for p, salt in [(b"openwall", DEFAULT_SALT), (b"fake", bytes(8)),
                    (b"test passphrase", DEFAULT_SALT), (b"test passphrase", FNEK_SALT)]:
        print("sig", p, salt.hex(), derive(p, salt)[1])
    fekek, sig = derive(b"test passphrase", DEFAULT_SALT)
    ffekek, fsig = derive(b"test passphrase", FNEK_SALT)
    for kb in (16, 24, 32):
        print("name mountkey", kb, tag70_name(b"hello.db", fekek, sig, kb).decode())
    print("name fnek 16 long", tag70_name(b"a-rather-longer-file-name.sqlite3", ffekek, fsig, 16).decode())
    fek = bytes([7]) * 16
    print("rootiv", hashlib.md5(fek).hexdigest())
    for n in (0, 1, 12, 123456789012345678):
        print("iv", n, extent_iv(fek, n).hex())
    plain = bytes(range(256)) * 16
    print("extent1 first32", cbc(fek, extent_iv(fek, 1), plain)[:32].hex())
    # header: size 5000, m1 = 0x12345678 (the encoder's fixed marker), version 3, encrypted,
    # 4096 x 2 header extents, tag 3 (AES-128, default salt) and tag 11.
    fek5a = bytes([0x5a]) * 16
    m1 = 0x12345678
    hdr = (5000).to_bytes(8, "big") + m1.to_bytes(4, "big") + (m1 ^ 0x3c81b7f5).to_bytes(4, "big")
    hdr += (0x03000002).to_bytes(4, "big") + (4096).to_bytes(4, "big") + (2).to_bytes(2, "big")
    t3 = bytes([4, 7, 3, 1]) + DEFAULT_SALT + bytes([0x60]) + ecb(fekek[:16], fek5a)
    t11 = bytes([0x62, 8]) + b"_CONSOLE" + bytes(4) + bytes.fromhex(sig)
    hdr += b"\x8c" + plen(len(t3)) + t3 + b"\xed" + plen(len(t11)) + t11 + b"\x00"
    print("header", hdr.hex())
    # AES-192 FEK: padded with 8 zero bytes to 32 before wrapping, key = first 24 FEKEK bytes.
    print("tag3 aes192 wrapped", ecb(fekek[:24], bytes([0x5a]) * 24 + bytes(8)).hex())
    # wrapped passphrase v2
    wsalt = bytes([1, 2, 3, 4, 5, 6, 7, 8])
    wkey, wsig = derive(b"login pw", wsalt)
    pp = b"mount passphrase 0123456789"
    padded = pp + bytes(-len(pp) % 16)
    print("wrapped", (b":\x02" + wsalt + wsig.encode() + ecb(wkey[:16], padded)).hex())


main()
