/// tdefs.conf authenticated as a whole (docs/format.md, "tdefs.conf"; issue 19, item 2). Every
/// write seals it: the generation goes up by one, and `mac` is an AES-GCM tag (empty plaintext)
/// over every other field, under HKDF-SHA256(ikm = KEK, salt = volume ID, info = "tdefs v2
/// conf-mac", 32). Every unlock checks it, so setting currentEpoch back, splicing in an epoch
/// record that retire removed, or planting a rotation record is refused. Epoch records of a sealed
/// configuration are wrapped with the AAD label "tdefs-conf-v2" (VolumeCrypto), so that removing
/// the mac (to pass for a configuration of an older release) is refused too.
public enum VolumeConfigSeal {
    public static let macBytes = AESGCM.nonceBytes + AESGCM.tagBytes

    /// Seals `config` under `kek`: legacy epoch records are rewrapped with the authenticated
    /// label, the generation is counted up, the mac computed. `.corruptConfig` when a record does not open.
    public static func seal(_ config: inout VolumeConfig, kek: SecureBytes, path: String) throws(VolumeError) {
        for i in config.epochs.indices {
            let r = config.epochs[i]
            guard let (master, authenticated) = VolumeCrypto.unwrapRecord(r.wrappedKey, kek: kek, volumeID: config.volumeID,
                                                                         epoch: r.epoch, cipher: r.cipher) else {
                throw .corruptConfig(path: path, detail: "the key of epoch \(r.epoch) does not open under the key sealing tdefs.conf")
            }
            if !authenticated {
                config.epochs[i].wrappedKey = VolumeCrypto.wrap(masterKey: master, kek: kek, volumeID: config.volumeID,
                                                                epoch: r.epoch, cipher: r.cipher)
            }
        }
        config.generation += 1
        config.mac = nil
        config.mac = cipher(kek: kek, volumeID: config.volumeID).sealBox([], aad: config.authenticatedBytes)
    }

    /// Whether `config`'s mac verifies under `kek`.
    public static func verifies(_ config: VolumeConfig, kek: SecureBytes) -> Bool {
        guard let mac = config.mac, mac.count == macBytes else { return false }
        return mac.withUnsafeBytes { m in
            config.authenticatedBytes.withUnsafeBytes { cipher(kek: kek, volumeID: config.volumeID).openBox(m, aad: $0) != nil }
        }
    }

    /// Refuses a configuration that is not what tdefs last wrote: a mac that does not verify, or
    /// no mac although an epoch record belongs to a sealed configuration (`sealedRecords`).
    public static func check(_ config: VolumeConfig, kek: SecureBytes, sealedRecords: Bool, path: String) throws(VolumeError) {
        if config.mac != nil {
            guard verifies(config, kek: kek) else {
                throw .corruptConfig(path: path, detail: "tdefs.conf does not authenticate (a field was changed, or a record of "
                    + "another copy spliced in: currentEpoch, epochs, rotation, ...); restore it from a backup")
            }
        } else if sealedRecords {
            throw .corruptConfig(path: path, detail: "tdefs.conf lacks its mac although its epoch records belong to an "
                + "authenticated tdefs.conf (the mac was removed); restore it from a backup")
        }
    }

    static func cipher(kek: SecureBytes, volumeID: [UInt8]) -> AESGCM {
        let gcm = AESGCM()
        gcm.setKey(KDF.hkdfSHA256(key: kek, salt: volumeID, info: "tdefs v2 conf-mac", length: 32), size: .aes256)
        return gcm
    }
}
