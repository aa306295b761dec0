import ArgumentParser
import Glibc
import TDEFSCore

/// KEY := --key-file PATH | --passphrase-file PATH | --key-command CMD | --passphrase-command CMD |
/// --key-credential NAME (none: prompt on a terminal).
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

    func validate() throws {
        let given = [keyFile, passphraseFile, keyCommand, passphraseCommand, keyCredential].compactMap { $0 }
        if given.count > 1 {
            throw ValidationError("give at most one of --key-file, --passphrase-file, --key-command, --passphrase-command, --key-credential")
        }
        if let keyCredential, keyCredential.contains("/") || keyCredential == "." || keyCredential == ".." {
            throw ValidationError("--key-credential takes a credential name, not a path")
        }
        for value in given where value.isEmpty {
            throw ValidationError("a key option's value is empty")
        }
    }

    /// True when any KEY option is given.
    var anyGiven: Bool { [keyFile, passphraseFile, keyCommand, passphraseCommand, keyCredential].contains { $0 != nil } }

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
