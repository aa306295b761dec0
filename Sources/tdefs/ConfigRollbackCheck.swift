import TDEFSCore

/// A mounted volume's daemon remembers the highest tdefs.conf generation it has seen (at mount,
/// and in every request since). A tdefs.conf with a lower one was put back from a copy while the
/// volume was mounted: rotate and retire refuse to build on it (docs/threat-model.md).
enum ConfigRollbackCheck {
    static func refuse(_ config: VolumeConfig, daemonReply reply: ControlReply, backing: String) throws(CLIError) {
        guard let known = reply.configGeneration, config.generation < known else { return }
        throw CLIError(.corruptVolume, "\(backing)/tdefs.conf is generation \(config.generation), older than generation \(known) "
            + "that the daemon serving it has seen: it was put back from an older copy while mounted; nothing was changed "
            + "(put the newer tdefs.conf back, or unmount and check the volume)")
    }
}
