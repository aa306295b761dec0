/// One thing fsck found wrong.
public struct FsckProblem: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case directoryIV          // missing or damaged tdefs.diriv
        case name                 // an encrypted name that does not decrypt
        case longName             // a long-name side file missing, damaged or orphaned
        case header               // a damaged or unauthentic file header
        case extent               // an extent that fails its tag, or a torn tail
        case symlink              // a symlink target that does not decrypt
        case xattr                // an extended attribute that does not decrypt
        case leftover             // a leftover of an interrupted operation
        case unknownEpoch         // data under a key epoch that is not unlocked
        case unexpected           // something tdefs never writes
    }
    public var kind: Kind
    /// The plaintext path where it can be derived.
    public var path: String?
    /// The backing path, relative to the backing directory.
    public var backingPath: String
    public var detail: String
    /// True when --repair can fix it without losing a user's data.
    public var repairable: Bool
    public var repaired: Bool
}

/// What a check found, for humans and for --json.
public struct FsckReport: Codable, Sendable {
    public var directories = 0
    public var files = 0
    public var symlinks = 0
    public var otherObjects = 0
    public var extents = 0
    public var bytes: Int64 = 0
    public var problems: [FsckProblem] = []
    /// Nothing left to report.
    public var clean: Bool { problems.allSatisfy { $0.repaired } }
    /// Something a user's data depends on is damaged (not a mere leftover of an interrupted operation).
    public var damaged: Bool { problems.contains { !$0.repaired && !$0.repairable } }
    /// Leftovers of interrupted operations still present (harmless; --repair removes them).
    public var leftovers: Int { problems.filter { !$0.repaired && $0.repairable }.count }
    public init() {}
}
