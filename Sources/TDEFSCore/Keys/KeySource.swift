import Glibc

/// Where the secret that unlocks a volume comes from (the KEY options of the command line).
public enum KeySource: Equatable, Sendable {
    case keyFile(String)
    case passphraseFile(String)
    case keyCommand(String)
    /// A command that prints a passphrase (systemd-ask-password): read as a key command's output
    /// is, but a new volume made from it is a passphrase volume (scrypt).
    case passphraseCommand(String)
    /// Ask on the terminal (standard input); at init, twice.
    case prompt

    static let sizeLimit = 1 << 20

    /// The KDF a new volume gets with this source. The option names the kind of secret: a key
    /// file or key command yields a key (HKDF: KMS, systemd credentials), a passphrase file,
    /// passphrase command or the prompt a passphrase (scrypt). An existing volume's tdefs.conf
    /// decides how a secret is used, whichever option brought it (KeySecret.material(for:)).
    public var kdfForNewVolume: VolumeConfig.KeyDerivation {
        switch self {
        case .keyFile, .keyCommand: return .hkdfSHA256
        case .passphraseFile, .passphraseCommand, .prompt: return .scrypt
        }
    }

    /// Reads the secret. `confirm` asks twice when prompting; `warn` receives warnings meant for the
    /// operator (a key file others can read), never secret bytes.
    public func read(confirm: Bool = false, warn: (String) -> Void = { _ in }) throws(KeySourceError) -> KeySecret {
        switch self {
        case .keyFile(let path):
            let buf = try Self.readFile(path, warn: warn)
            return KeySecret(kind: .key, bytes: try KeyText.key(from: buf.bytes, what: "key file \(path)"))
        case .passphraseFile(let path):
            let buf = try Self.readFile(path, warn: warn)
            let line = KeyText.firstLine(buf.bytes)
            guard !line.isEmpty else { throw .emptyPassphrase(what: "passphrase file \(path)") }
            return KeySecret(kind: .text, bytes: buf.secure(line))
        case .keyCommand(let command), .passphraseCommand(let command):
            let buf = try KeyCommand.run(command, limit: Self.sizeLimit)
            guard !KeyText.withoutTrailingNewline(buf.bytes).isEmpty else {
                throw .emptyPassphrase(what: "the key command's output")
            }
            return KeySecret(kind: .commandOutput, bytes: buf.secure(0..<buf.count), what: "the key command's output")
        case .prompt:
            return KeySecret(kind: .text, bytes: try TerminalPrompt.passphrase(confirm: confirm), what: "the passphrase")
        }
    }

    private static func readFile(_ path: String, warn: (String) -> Void) throws(KeySourceError) -> SecretBuffer {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, errno: .current) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { throw .unreadable(path: path, errno: Errno(EISDIR)) }
            if (st.st_mode & S_IFMT) == S_IFREG && (st.st_mode & 0o077) != 0 {
                warn("warning: \(path) is accessible by group or others (mode \(String(st.st_mode & 0o7777, radix: 8))); chmod 600 it")
            }
        }
        let buf = SecretBuffer(capacity: 4096)
        try buf.readAll(fd: fd, limit: sizeLimit, what: path)
        return buf
    }
}

/// A secret as a key source yielded it. How it becomes key material depends on the volume's KDF.
public struct KeySecret: Sendable {
    public enum Kind: Sendable {
        /// Already a key (a key file's decoded content).
        case key
        /// A passphrase (file or typed), without its line end.
        case text
        /// A key command's standard output as it came: a key file's content to HKDF volumes,
        /// a passphrase (without its final line end) to scrypt volumes.
        case commandOutput
    }

    public let kind: Kind
    public let bytes: SecureBytes
    let what: String

    public init(kind: Kind, bytes: SecureBytes, what: String = "the secret") {
        self.kind = kind; self.bytes = bytes; self.what = what
    }

    /// The input of the volume's KDF. For scrypt: the passphrase bytes (a key command's output
    /// without its final line end). For HKDF: a key, so text and command output are read as a key
    /// file's content is (≥ 32 raw bytes, or one line of base64).
    public func material(for kdf: VolumeConfig.KeyDerivation) throws(KeySourceError) -> SecureBytes {
        switch (kind, kdf) {
        case (.key, _), (.text, .scrypt):
            return bytes
        case (.commandOutput, .scrypt):
            return bytes.withUnsafeBytes { b in
                let line = KeyText.withoutTrailingNewline(b)
                let s = SecureBytes(count: line.count)
                s.withUnsafeMutableBytes { dst in
                    if !line.isEmpty { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[line])) }
                }
                return s
            }
        case (.text, .hkdfSHA256), (.commandOutput, .hkdfSHA256), (.text, .kmip), (.commandOutput, .kmip), (.text, .pkcs11), (.commandOutput, .pkcs11):
            return try bytes.withUnsafeBytes { (b) throws(KeySourceError) -> SecureBytes in
                try KeyText.key(from: b, what: what)
            }
        }
    }
}
