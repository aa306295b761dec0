/// What each volume format version (tdefs.conf's formatVersion) makes (docs/format.md):
/// 1: file headers v1 (all-zero extents read as holes), directory IVs v1 (not authenticated);
/// 2: file headers v2 (holes known to the format), directory IVs v1;
/// 3: file headers v2, directory IVs v2 (authenticated; a directory's attributes bound to its IV);
/// 4: as 3, and tdefs.conf holds more than one key slot (keySlots, wrappedKEK): set by
/// `passwd --add-slot`, so that a release without slots refuses the volume by its version.
public enum FormatVersions {
    /// What `init` makes.
    public static let newestVolume = 3
    /// The newest tdefs.conf this release reads.
    public static let newestConfig = 4
    /// The first version whose tdefs.conf may hold key slots.
    public static let keySlots = 4

    /// The header version of files a volume of format `volume` makes.
    public static func fileHeader(forVolume volume: Int) -> UInt8 { volume >= 2 ? 2 : 1 }

    /// The IV file version of directories a volume of format `volume` makes.
    public static func directoryIV(forVolume volume: Int) -> UInt8 { volume >= 3 ? 2 : 1 }
}
