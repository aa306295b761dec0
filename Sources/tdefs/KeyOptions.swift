import ArgumentParser
import Glibc
import TDEFSCore

/// KEY := --key-file PATH | --passphrase-file PATH | --key-command CMD | --passphrase-command CMD |
/// --key-credential NAME | --key-kmip HOST:PORT --kmip-client-cert P --kmip-client-key P --kmip-ca P
/// [--kmip-key-id ID] (none: prompt on a terminal).
struct KeyOptions: ParsableArguments {
    @Option(name: .customLong("key-file"), help: ArgumentHelp(
        "File with the key: at least 32 bytes, raw or as one line of base64.", valueName: "path"))
    var keyFile: String?

    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp(
        "File whose first line is the passphrase.", valueName: "path"))
    var passphraseFile: String?

    @Option(name: .customLong("key-command"), help: ArgumentHelp(
        "Command (run by /bin/sh -c) that prints the key or passphrase on its standard output.",
        valueName: "command"))
    var keyCommand: String?

    /// Extension to the command-line contract: a command that prints a passphrase (the
    /// systemd-ask-password recipe). A new volume made with it is a passphrase volume (scrypt).
    @Option(name: .customLong("passphrase-command"), help: ArgumentHelp(
        "Command (run by /bin/sh -c) that prints a passphrase; a new volume stretches it with scrypt.",
        valueName: "command"))
    var passphraseCommand: String?

    /// Extension to the command-line contract, for systemd units: the credential NAME in
    /// $CREDENTIALS_DIRECTORY (LoadCredential=, LoadCredentialEncrypted=), read like a key
    /// command's output (a key for key volumes, a passphrase for passphrase volumes).
    @Option(name: .customLong("key-credential"), help: ArgumentHelp(
        "systemd credential in $CREDENTIALS_DIRECTORY holding the key or passphrase (LoadCredential=).",
        valueName: "name"))
    var keyCredential: String?

    @Option(name: .customLong("key-kmip"), help: ArgumentHelp(
        "KMIP server that holds the volume's key (with --kmip-client-cert, --kmip-client-key, --kmip-ca).",
        valueName: "host:port"))
    var keyKMIP: String?

    @Option(name: .customLong("kmip-client-cert"), help: ArgumentHelp(
        "PEM certificate (chain) tdefs presents to the KMIP server.", valueName: "path"))
    var kmipClientCert: String?

    @Option(name: .customLong("kmip-client-key"), help: ArgumentHelp(
        "PEM private key of the client certificate (unencrypted; mode 600).", valueName: "path"))
    var kmipClientKey: String?

    @Option(name: .customLong("kmip-ca"), help: ArgumentHelp(
        "PEM CA certificates that the KMIP server's certificate must chain to.", valueName: "path"))
    var kmipCA: String?

    @Option(name: .customLong("kmip-key-id"), help: ArgumentHelp(
        "The key's unique identifier on the KMIP server, or name:NAME (init: use this key instead of creating one).",
        valueName: "id"))
    var kmipKeyID: String?

    @Option(name: .customLong("key-pkcs11"), help: ArgumentHelp(
        "RFC 7512 URI of the PKCS#11 token and AES key that wrap the volume's key (init makes the key when the token has none).",
        valueName: "pkcs11:..."))
    var keyPKCS11: String?

    @Option(name: .customLong("pkcs11-module"), help: ArgumentHelp(
        "The PKCS#11 module to load (default: p11-kit's proxy of the system's registered modules).", valueName: "path"))
    var pkcs11Module: String?

    @Option(name: .customLong("pkcs11-pin-file"), help: ArgumentHelp(
        "File whose first line is the token's user PIN (or the URI's pin-source).", valueName: "path"))
    var pkcs11PinFile: String?

    /// Extension: how a new volume's secret is had from the KMIP key (tdefs.conf records it).
    @Option(name: .customLong("kmip-mode"), help: ArgumentHelp(
        "For a new KMIP key source: encrypt (the server wraps a data key; the default) or get (the key is fetched, for servers without Encrypt).",
        valueName: "encrypt|get"))
    var kmipMode: KMIPModeChoice?

    func validate() throws {
        let given = [keyFile, passphraseFile, keyCommand, passphraseCommand, keyCredential, keyKMIP, keyPKCS11].compactMap { $0 }
        if given.count > 1 {
            throw ValidationError("give at most one of --key-file, --passphrase-file, --key-command, --passphrase-command, --key-credential, --key-kmip, --key-pkcs11")
        }
        if keyPKCS11 == nil && (pkcs11Module != nil || pkcs11PinFile != nil) {
            throw ValidationError("--pkcs11-module and --pkcs11-pin-file need --key-pkcs11")
        }
        if let keyPKCS11, !keyPKCS11.hasPrefix("pkcs11:") { throw ValidationError("--key-pkcs11 takes a pkcs11: URI (RFC 7512)") }
        if let keyPKCS11, keyPKCS11.contains("pin-value") {
            throw ValidationError("--key-pkcs11: a PIN in the URI (pin-value) shows in the process list; give --pkcs11-pin-file or pin-source")
        }
        if let keyKMIP {
            guard KMIPConnection.parseEndpoint(keyKMIP) != nil else { throw ValidationError("--key-kmip takes HOST:PORT (or [IPv6]:PORT)") }
            guard kmipClientCert != nil, kmipClientKey != nil, kmipCA != nil else {
                throw ValidationError("--key-kmip needs --kmip-client-cert, --kmip-client-key and --kmip-ca")
            }
        } else if kmipKeyID != nil {
            throw ValidationError("--kmip-key-id needs --key-kmip")
        }
        for value in [kmipClientCert, kmipClientKey, kmipCA, kmipKeyID].compactMap({ $0 }) where value.isEmpty {
            throw ValidationError("a KMIP option's value is empty")
        }
        if let keyCredential, keyCredential.contains("/") || keyCredential == "." || keyCredential == ".." {
            throw ValidationError("--key-credential takes a credential name, not a path")
        }
        for value in given where value.isEmpty {
            throw ValidationError("a key option's value is empty")
        }
    }

    /// True when any KEY option is given.
    var anyGiven: Bool { [keyFile, passphraseFile, keyCommand, passphraseCommand, keyCredential, keyKMIP, keyPKCS11].contains { $0 != nil } }

    /// The token's PIN: --pkcs11-pin-file, else the URI's pin-source (a file); nil for a token
    /// that needs none.
    func pkcs11Pin(uri: String) throws -> SecureBytes? { try Self.pkcs11Pin(file: pkcs11PinFile, uri: uri) }

    /// The first line of `file`, else of the file the URI's pin-source names (file:PATH or PATH).
    static func pkcs11Pin(file: String?, uri: String) throws -> SecureBytes? {
        var path = file
        if path == nil, let source = PKCS11Token.pinSource(of: uri) {
            path = source.hasPrefix("file:") ? String(source.dropFirst(5)) : source
        }
        guard let path else { return nil }
        return try KeySource.passphraseFile(path).read(warn: { Console.warn($0) }).bytes
    }

    /// The KMIP server named by `endpoint`, reached with the --kmip-client-* and --kmip-ca files.
    func kmipServer(_ endpoint: String) throws(CLIError) -> KMIPKeyServer {
        guard let kmipClientCert, let kmipClientKey, let kmipCA else {
            throw CLIError(.usage, "a KMIP key source needs --kmip-client-cert, --kmip-client-key and --kmip-ca")
        }
        do {
            return try KMIPKeyServer(endpoint: endpoint, credentials: .init(clientCertificate: kmipClientCert,
                                                                           clientKey: kmipClientKey, caCertificates: kmipCA))
        } catch {
            throw CLIError(.usage, error.description)
        }
    }

    /// The options that reach the KMIP server (no secret in them: paths), for the daemon child.
    var kmipServerArguments: [String] {
        guard let keyKMIP, let kmipClientCert, let kmipClientKey, let kmipCA else { return [] }
        // Absolute: the daemon runs in /.
        return ["--key-kmip", keyKMIP, "--kmip-client-cert", Paths.absolute(kmipClientCert), "--kmip-client-key", Paths.absolute(kmipClientKey),
                "--kmip-ca", Paths.absolute(kmipCA)]
    }

    /// --kmip-client-* or --kmip-ca given, but no KMIP key source to use them.
    func refuseStrayKMIPOptions() throws(CLIError) {
        if keyKMIP == nil && [kmipClientCert, kmipClientKey, kmipCA].contains(where: { $0 != nil }) {
            throw CLIError(.usage, "--kmip-client-cert, --kmip-client-key and --kmip-ca belong to a KMIP key source (--key-kmip)")
        }
    }

    /// --kmip-mode chooses how a new KMIP key source works; an existing one's is in tdefs.conf.
    func refuseKMIPModeForExistingKey() throws(CLIError) {
        if kmipMode != nil {
            throw CLIError(.usage, "--kmip-mode applies to a new KMIP key source (init, import, passwd --new-key-kmip); "
                           + "an existing volume's mode is recorded in its tdefs.conf")
        }
    }

    /// The chosen source; the terminal prompt when none is given and standard input is a terminal.
    func source() throws(CLIError) -> KeySource {
        if let keyFile { return .keyFile(keyFile) }
        if let passphraseFile { return .passphraseFile(passphraseFile) }
        if let keyCommand { return .keyCommand(keyCommand) }
        if let passphraseCommand { return .passphraseCommand(passphraseCommand) }
        guard isatty(0) == 1 else { throw CLIError.from(KeySourceError.noTerminal) }
        return .prompt
    }

    /// Reads the secret (asking twice when prompting for a new volume).
    func read(confirm: Bool) throws -> (KeySource, KeySecret) {
        if let keyCredential {
            let path = try Credentials.path(of: keyCredential)
            // A new volume made from a credential is a key volume, as with a key file.
            return (.keyFile(path), try Credentials.read(path, name: keyCredential))
        }
        let source = try source()
        let secret = try source.read(confirm: confirm, warn: { Console.warn($0) })
        return (source, secret)
    }
}

enum KMIPModeChoice: String, ExpressibleByArgument, CaseIterable {
    case encrypt, get
    var mode: KMIPRecord.Mode { self == .encrypt ? .encrypt : .get }
}

