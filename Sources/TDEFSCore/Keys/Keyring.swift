import Synchronization

/// The keys of one key epoch, derived from its master key (see docs/format.md).
public final class EpochKeys: Sendable {
    public let epoch: UInt32
    public let size: AESKeySize
    public let masterKey: SecureBytes
    public let headerWrap: SecureBytes
    public let names: SecureBytes
    /// `names`, set up once for the name cipher (see AESSIVKey).
    public let nameCipher: AESSIVKey
    public let symlink: SecureBytes
    public let dirXattrName: SecureBytes
    public let dirXattrValue: SecureBytes
    /// The MAC key of version-2 directory IV files (DirectoryIV), set up once.
    public let directoryIVMAC: AESSIVKey

    public init(epoch: UInt32, size: AESKeySize, masterKey: SecureBytes, volumeID: [UInt8]) {
        self.epoch = epoch
        self.size = size
        self.masterKey = masterKey
        func derive(_ label: String, _ n: Int) -> SecureBytes {
            KDF.hkdfSHA256(key: masterKey, salt: volumeID, info: label, length: n)
        }
        headerWrap = derive("tdefs v1 header-wrap", size.gcmKeyBytes)
        names = derive("tdefs v1 names", size.sivKeyBytes)
        nameCipher = AESSIVKey(names)
        symlink = derive("tdefs v1 symlink", size.gcmKeyBytes)
        dirXattrName = derive("tdefs v1 dir-xattr-name", size.sivKeyBytes)
        dirXattrValue = derive("tdefs v1 dir-xattr-value", size.gcmKeyBytes)
        directoryIVMAC = AESSIVKey(derive("tdefs v3 diriv-mac", size.sivKeyBytes))
    }
}

/// The unlocked master keys of a volume, by epoch. New objects use `current`.
public final class Keyring: Sendable {
    public let volumeID: [UInt8]
    private let state: Mutex<(current: UInt32, epochs: [UInt32: EpochKeys])>

    public init(volumeID: [UInt8], currentEpoch: UInt32, epochs: [EpochKeys]) {
        self.volumeID = volumeID
        var map: [UInt32: EpochKeys] = [:]
        for e in epochs { map[e.epoch] = e }
        precondition(map[currentEpoch] != nil, "current epoch must be unlocked")
        state = Mutex((currentEpoch, map))
    }

    public var current: EpochKeys { state.withLock { $0.epochs[$0.current]! } }

    public func epoch(_ n: UInt32) -> EpochKeys? { state.withLock { $0.epochs[n] } }

    public var epochNumbers: [UInt32] { state.withLock { $0.epochs.keys.sorted() } }

    /// Adds an epoch and makes it current (online rotation). Never replaces an epoch it holds
    /// under another key or cipher: false then, and nothing changes (adding the same key again, as
    /// a resumed rotation does, is accepted).
    @discardableResult
    public func add(_ keys: EpochKeys, makeCurrent: Bool) -> Bool {
        state.withLock {
            if let held = $0.epochs[keys.epoch] {
                guard held.size == keys.size, held.masterKey.constantTimeEquals(keys.masterKey) else { return false }
            } else {
                $0.epochs[keys.epoch] = keys
            }
            if makeCurrent { $0.current = keys.epoch }
            return true
        }
    }

    public func remove(epoch n: UInt32) {
        state.withLock { if $0.current != n { $0.epochs[n] = nil } }
    }
}
