/// What a volume is for, chosen at `tdefs init` (or import) and recorded in tdefs.conf: it sets
/// the defaults of every mount of the volume, so that an operator who passes no `-o` gets the
/// fast path for what the volume holds (docs/performance.md, "Volume profiles").
public enum VolumeProfile: String, CaseIterable, Sendable {
    /// A database's data directory (the default of `init`): no extended attributes. Without them
    /// the kernel stops asking for security.* and system.* attributes after the first answer
    /// (ENOSYS); with them, each write(2), chown and `ls -l` entry costs a round trip.
    case database
    /// Any other tree: user.* extended attributes are kept (as `import` keeps a source's).
    case general

    /// The profile of a volume whose tdefs.conf records none (made before profiles existed):
    /// those volumes served extended attributes, and keep doing so.
    public static let unrecorded: VolumeProfile = .general

    /// Whether a mount serves extended attributes unless `-o xattr` or `-o noxattr` says otherwise.
    public var extendedAttributes: Bool { self == .general }
}
