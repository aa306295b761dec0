import ArgumentParser
import TDEFSCore

/// The keys of an eCryptfs lower directory (`import --from-ecryptfs`, `mount --ecryptfs`): the
/// mount passphrase from a file, or ecryptfs-utils' wrapped-passphrase file with the login
/// passphrase that unwraps it; optionally a separate passphrase for the file name key.
struct ECryptfsKeyOptions: ParsableArguments {
    @Option(name: .customLong("ecryptfs-passphrase-file"), help: ArgumentHelp("The eCryptfs mount passphrase's file.", valueName: "path"))
    var passphraseFile: String?

    @Option(name: .customLong("ecryptfs-wrapped-passphrase"), help: ArgumentHelp("ecryptfs-utils' wrapped-passphrase file.", valueName: "path"))
    var wrappedPassphrase: String?

    @Option(name: .customLong("login-passphrase-file"), help: ArgumentHelp(
        "The login passphrase that unwraps --ecryptfs-wrapped-passphrase.", valueName: "path"))
    var loginPassphraseFile: String?

    @Option(name: .customLong("ecryptfs-fnek-passphrase-file"), help: ArgumentHelp(
        "A separate passphrase for the file name key (FNEK).", valueName: "path"))
    var fnekPassphraseFile: String?

    var anyGiven: Bool { [passphraseFile, wrappedPassphrase, loginPassphraseFile, fnekPassphraseFile].contains { $0 != nil } }

    /// The same options again, with absolute paths, for the background mount's daemon (paths of
    /// files, never their contents, go on a command line).
    var arguments: [String] {
        var out: [String] = []
        if let passphraseFile { out += ["--ecryptfs-passphrase-file", Paths.absolute(passphraseFile)] }
        if let wrappedPassphrase { out += ["--ecryptfs-wrapped-passphrase", Paths.absolute(wrappedPassphrase)] }
        if let loginPassphraseFile { out += ["--login-passphrase-file", Paths.absolute(loginPassphraseFile)] }
        if let fnekPassphraseFile { out += ["--ecryptfs-fnek-passphrase-file", Paths.absolute(fnekPassphraseFile)] }
        return out
    }

    /// Reads the passphrases (and unwraps a wrapped one) into locked memory.
    func keys(for what: String) throws(CLIError) -> ECryptfsKeys {
        let fnek = fnekPassphraseFile.map(Paths.absolute)
        do {
            switch (passphraseFile, wrappedPassphrase, loginPassphraseFile) {
            case (let p?, nil, nil):
                return try ECryptfsKeys.fromPassphraseFile(Paths.absolute(p), fnekPassphraseFile: fnek)
            case (nil, let w?, let l?):
                return try ECryptfsKeys.fromWrappedPassphrase(Paths.absolute(w), loginPassphraseFile: Paths.absolute(l),
                                                              fnekPassphraseFile: fnek)
            default:
                throw CLIError(.usage, "\(what) needs --ecryptfs-passphrase-file P, or --ecryptfs-wrapped-passphrase W "
                               + "with --login-passphrase-file P")
            }
        } catch let error as ECryptfsError {
            if case .wrongKey = error { throw CLIError(.wrongKey, error.description) }
            throw CLIError(.failure, error.description)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(.failure, "\(error)")
        }
    }
}
