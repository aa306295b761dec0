import TDEFSCore

/// The `-o` values of `tdefs mount`, comma-separated and repeatable.
struct MountOptionList {
    var allowOther = false
    var readOnly = false
    /// Mount over a directory that is not empty (tdefs refuses that otherwise).
    var nonempty = false
    /// `-o xattr` (true) or `-o noxattr` (false): whether this mount serves extended attributes;
    /// nil follows the volume's profile (VolumeProfile, docs/performance.md).
    var xattr: Bool?
    /// `-o metrics=SOCKET|ADDRESS:PORT`: where the daemon serves its metrics (docs/operations.md).
    var metrics: MetricsEndpoint?
    /// `-o key_check=SECONDS`: ask the key manager again at this interval; lock on revocation.
    var keyCheckSeconds: Int?
    /// Everything else, handed to libfuse as is.
    var passThrough: [String] = []
    /// All values as given (for the daemon child's command line).
    var all: [String] = []

    /// Whether a mount of a volume of `profile` serves extended attributes.
    func extendedAttributes(for profile: VolumeProfile) -> Bool { xattr ?? profile.extendedAttributes }

    init(_ values: [String]) throws(CLIError) {
        for value in values {
            for item in value.split(separator: ",", omittingEmptySubsequences: true).map(String.init) {
                all.append(item)
                switch item {
                case "allow_other": allowOther = true
                case "ro": readOnly = true
                case "rw": readOnly = false
                case "nonempty": nonempty = true
                case "noxattr": xattr = false
                case "xattr": xattr = true
                case "default_permissions": break  // always on: the kernel checks permissions
                default:
                    if item.hasPrefix("fsname=") || item.hasPrefix("subtype=") {
                        throw CLIError(.usage, "-o \(item): tdefs sets fsname and subtype itself")
                    }
                    if item == "key_check" || item.hasPrefix("key_check=") {
                        guard let n = Int(item.dropFirst("key_check=".count)), (1...86_400).contains(n) else {
                            throw CLIError(.usage, "-o \(item): key_check takes a number of seconds from 1 to 86400")
                        }
                        keyCheckSeconds = n
                        continue
                    }
                    if item == "metrics" || item.hasPrefix("metrics=") {
                        switch MetricsEndpoint.parse(String(item.dropFirst("metrics=".count))) {
                        case .success(let endpoint): metrics = endpoint
                        case .failure(let why): throw CLIError(.usage, "-o \(item): \(why)")
                        }
                        continue
                    }
                    passThrough.append(item)
                }
            }
        }
    }
}
