import Foundation
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

    /// Creates `name` at the root holding `content` (written, then released); the bytes written.
    func makeFile(_ name: String, _ content: [UInt8]) throws -> Int {
        let (_, f) = try fs.create(parent: 1, name: name, mode: 0o644, flags: O_RDWR, context: .daemon)
        defer { fs.release(f) }
        return try content.withUnsafeBytes { try fs.write(f, offset: 0, from: $0) }
    }

    /// The backing path of the one regular file at the root (a test that made a single file).
    func onlyBackingFile() throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: backing).filter { !$0.hasPrefix("tdefs.") }
        guard names.count == 1 else { throw Errno.EIO }
        return backing + "/" + names[0]
    }
}
