/// New key epochs and re-wrapped epoch records.
public enum EpochFactory {
    /// Adds epoch max+1 with a fresh master key wrapped under `kek`, and makes it current. Refuses
    /// (tdefs.conf unchanged) when that number is already taken: listed in `inUse` (the epochs a
    /// mounted volume's daemon holds, which a rolled-back tdefs.conf may no longer list), or past
    /// the last epoch number.
    public static func addEpoch(to config: inout VolumeConfig, kek: SecureBytes, cipher: AESKeySize,
                                inUse: [UInt32] = [], path: String) throws(VolumeError) -> EpochKeys {
        let highest = config.epochs.map(\.epoch).max() ?? 0
        guard highest < UInt32.max else { throw .corruptConfig(path: path, detail: "no epoch number is left after \(highest)") }
        let n = highest + 1
        if config.epoch(n) != nil || inUse.contains(n) {
            throw .corruptConfig(path: path, detail: "epoch \(n) is already in use by the volume's daemon, but tdefs.conf does not list it "
                + "(rolled back or edited?); refusing to make another epoch \(n)")
        }
        let master = SecureBytes.random(count: VolumeCrypto.masterKeyBytes)
        let wrapped = VolumeCrypto.wrap(masterKey: master, kek: kek, volumeID: config.volumeID, epoch: n, cipher: cipher)
        config.epochs.append(.init(epoch: n, created: Volume.timestamp(), cipher: cipher, wrappedKey: wrapped))
        config.currentEpoch = n
        return EpochKeys(epoch: n, size: cipher, masterKey: master, volumeID: config.volumeID)
    }

    /// Re-wraps every epoch of `config` (opened by `keyring`) under `kek` with `keySource`.
    public static func rewrapAll(_ config: inout VolumeConfig, keyring: Keyring, kek: SecureBytes,
                                 keySource: VolumeConfig.KeySource) throws(VolumeError) {
        for i in config.epochs.indices {
            let record = config.epochs[i]
            guard let keys = keyring.epoch(record.epoch) else {
                throw .corruptConfig(path: "tdefs.conf", detail: "epoch \(record.epoch) is not unlocked")
            }
            config.epochs[i].wrappedKey = VolumeCrypto.wrap(masterKey: keys.masterKey, kek: kek, volumeID: config.volumeID,
                                                            epoch: record.epoch, cipher: record.cipher)
        }
        config.keySource = keySource
    }
}
