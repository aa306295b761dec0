/// Each command's synopsis, in the notation of README.md and docs/cli.md (KEY stands for the key
/// options). `--help`, the man page and both documents show exactly these lines; a test
/// (CLIContractTests) compares them.
enum Synopsis {
    static let key = "KEY := --key-file PATH | --passphrase-file PATH | --key-command CMD | --passphrase-command CMD | --key-credential NAME | --key-kmip HOST:PORT --kmip-client-cert P --kmip-client-key P --kmip-ca P [--kmip-key-id ID] [--kmip-mode encrypt|get] | --key-pkcs11 PKCS11_URI [--pkcs11-module PATH] [--pkcs11-pin-file P]"
    static let cipher = "[--cipher aes-256-gcm|aes-192-gcm]"

    static let initVolume = "tdefs init BACKING [KEY] \(cipher) [--profile database|general] [--scrypt-n N] [--format-version 1|2|3]"
    static let mount = "tdefs mount BACKING MOUNTPOINT [KEY] [-f|--foreground] [-o OPT,...]"
    static let unmount = "tdefs unmount MOUNTPOINT"
    static let lock = "tdefs lock MOUNTPOINT"
    static let shred = "tdefs shred BACKING [KEY] --confirm-destroy-all-data"
    static let status = "tdefs status BACKING|MOUNTPOINT [--json]"
    static let passwd = "tdefs passwd BACKING|MOUNTPOINT [KEY] [--add-slot] (--new-key-file P | --new-passphrase-file P | --new-key-command C | --new-passphrase-command C | --new-key-kmip HOST:PORT [--new-kmip-key-id ID] | --new-key-pkcs11 URI [--new-pkcs11-module PATH] [--new-pkcs11-pin-file P]) [--scrypt-n N] | --remove-slot N"
    static let rotate = "tdefs rotate BACKING|MOUNTPOINT [KEY] [--reencrypt] \(cipher)"
    static let retire = "tdefs retire BACKING|MOUNTPOINT [KEY] --epoch N"
    static let exportKey = "tdefs export-key BACKING|MOUNTPOINT [KEY] --epoch N (--to-key-file P | --to-passphrase-file P) [--output FILE] [--scrypt-n N]"
    static let fsck = "tdefs fsck BACKING|MOUNTPOINT [KEY] [--repair] [--json]"
    static let importTree = "tdefs import [--from-ecryptfs] PLAIN_DIR|LOWER_DIR BACKING [KEY] \(cipher) [--profile database|general] [--ecryptfs-passphrase-file P | --ecryptfs-wrapped-passphrase W --login-passphrase-file P] [--ecryptfs-fnek-passphrase-file F]"

    /// ArgumentParser prints `usage` as it is, after "USAGE: ".
    static func usage(_ line: String) -> String { line }
}
