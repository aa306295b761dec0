import TDEFSCore

/// A mounted volume's daemon remembers the highest tdefs.conf generation it has seen (at mount,
/// and in every request since). A tdefs.conf with a lower one was put back from a copy while the
/// volume was mounted: rotate and retire refuse to build on it (docs/threat-model.md). They check
/// the tdefs.conf their transaction holds (under its lock), against what the daemon said before.
enum ConfigRollbackCheck {
    static func refuse(_ config: VolumeConfig, daemonGeneration known: UInt64?, backing: String) throws(CLIError) {
        guard let known, config.generation < known else { return }
        throw CLIError(.corruptVolume, "\(backing)/tdefs.conf is generation \(config.generation), older than generation \(known) "
            + "that the daemon serving it has seen: it was put back from an older copy while mounted; nothing was changed "
            + "(put the newer tdefs.conf back, or unmount and check the volume)")
    }

    /// Tells a mounted volume's daemon the generation a command just wrote (best effort: a daemon
    /// that does not answer learns it from the next rotate or retire).
    static func tellDaemon(_ config: VolumeConfig, backing: String) {
        _ = ControlClient.send(ControlRequest(op: .status, generation: config.generation), backingPath: backing, volumeID: config.volumeID)
    }
}
