/// What each volume format version (tdefs.conf's formatVersion) makes (docs/format.md):
/// 1: file headers v1 (all-zero extents read as holes), directory IVs v1 (not authenticated);
/// 2: file headers v2 (holes known to the format), directory IVs v1;
/// 3: file headers v2, directory IVs v2 (authenticated; a directory's attributes bound to its IV).
public enum FormatVersions {
    public static let newestVolume = 3

    /// The header version of files a volume of format `volume` makes.
    public static func fileHeader(forVolume volume: Int) -> UInt8 { volume >= 2 ? 2 : 1 }

    /// The IV file version of directories a volume of format `volume` makes.
    public static func directoryIV(forVolume volume: Int) -> UInt8 { volume >= 3 ? 2 : 1 }
}
