import ArgumentParser
import Glibc
import TDEFSCore

/// `--scrypt-n N`: scrypt's cost for a new passphrase (init, passwd, export-key). The default,
/// N = 65536 (r = 8, p = 1), is what every passphrase volume should use; a smaller N makes a
/// guessed passphrase cheaper to test, so it is only taken when asked for here, explicitly, and
/// then loudly. $TDEFS_SCRYPT_N (which the test suite uses to go fast) is honoured by debug builds
/// only, with the same warning; a release build refuses it.
struct ScryptCostOption: ParsableArguments {
    @Option(name: .customLong("scrypt-n"),
            help: ArgumentHelp("scrypt's cost N for a new passphrase, a power of two (default 65536; smaller is weaker).",
                               valueName: "n"))
    var n: UInt64?

    /// The parameters for a new passphrase's key source.
    func parameters() throws(CLIError) -> KDF.ScryptParameters {
        let standard = KDF.ScryptParameters.standard
        var chosen: UInt64?
        if let n {
            chosen = n
        } else if let raw = getenv("TDEFS_SCRYPT_N"), raw.pointee != 0 {
            #if DEBUG
            chosen = UInt64(String(cString: raw))
            if chosen == nil { throw CLIError(.usage, "TDEFS_SCRYPT_N must be a number") }
            #else
            throw CLIError(.usage, "TDEFS_SCRYPT_N is honoured by debug builds only; give --scrypt-n N to choose scrypt's cost")
            #endif
        }
        guard let chosen else { return standard }
        let p = KDF.ScryptParameters(n: chosen, r: standard.r, p: standard.p)
        if let why = VolumeConfig.scryptProblem(p) { throw CLIError(.usage, "--scrypt-n: \(why)") }
        if chosen < standard.n {
            Console.warn("warning: scrypt N=\(chosen) is weaker than the default \(standard.n): a guessed passphrase "
                + "costs \(standard.n / chosen) times less to test; tdefs status shows it as a weakened key derivation")
        }
        return p
    }
}
