import Glibc
import Logging
@testable import TDEFSCore

/// An engine over a fresh temporary backing directory (root IV of epoch 1, no tdefs.conf).
struct EngineFixture {
    let backing: String
    let keyring: Keyring
    let fs: FileSystem

    init(formatVersion: Int = FormatVersions.newestVolume) throws {
        var template = Array("/tmp/tdefs-engine-XXXXXX".utf8CString)
        backing = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let volumeID = Random.bytes(16)
        let keys = EpochKeys(epoch: 1, size: .aes256, masterKey: SecureBytes.random(count: 32), volumeID: volumeID)
        let dfd = Glibc.open(backing, O_RDONLY | O_DIRECTORY)
        try DirectoryIV.random(keys: keys, version: FormatVersions.directoryIV(forVolume: formatVersion)).write(directoryFD: dfd)
        close(dfd)
        keyring = Keyring(volumeID: volumeID, currentEpoch: 1, epochs: [keys])
        fs = try FileSystem(backingPath: backing, keyring: keyring, options: EngineOptions(chownToCaller: false, formatVersion: formatVersion),
                            logger: Logger(label: "test"))
    }

    func remove() { _ = system("rm -rf '\(backing)'") }
}
