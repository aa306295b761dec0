import Glibc
import TDEFSCore

/// Where `tdefs status` got its counts: from the mounted volume's daemon (no walk of the backing
/// tree), or by walking the backing directory itself (unmounted, or the daemon did not answer).
struct CountedCensus {
    enum Source: String { case daemon, walk }
    var census: FileCensus
    var source: Source
    /// "current", or "stale" (the daemon's counts predate an unfinished online rotation).
    var state: String
    var countedAt: String

    /// The census of a volume: its daemon's when `mounted`, else (or when the daemon cannot give
    /// it) a walk of the backing directory.
    static func of(backingPath: String, config: VolumeConfig, mounted: Bool) throws -> CountedCensus {
        if mounted, let counted = fromDaemon(backingPath: backingPath, volumeID: config.volumeID) { return counted }
        if mounted {
            Console.warn("the daemon gave no census; counting by walking \(backingPath)")
        }
        let census = try VolumeCensus.count(backingPath: backingPath, currentEpoch: config.currentEpoch)
        return CountedCensus(census: census, source: .walk, state: "current", countedAt: Volume.timestamp())
    }

    /// Right after a mount the daemon may still be counting, and right after an online rotation
    /// recounting: asks again every 100 ms, for up to a minute. nil when the daemon does not answer
    /// (or still counts).
    static func fromDaemon(backingPath: String, volumeID: [UInt8]) -> CountedCensus? {
        for _ in 0..<600 {
            guard let reply = ControlClient.send(ControlRequest(op: .status), backingPath: backingPath, volumeID: volumeID), reply.ok,
                  let c = reply.census else { return nil }
            if let census = c.fileCensus, c.state == LiveCensus.State.current.rawValue || c.recounting != true {
                return CountedCensus(census: census, source: .daemon, state: c.state, countedAt: c.countedAt ?? "")
            }
            usleep(100_000)
        }
        return nil
    }
}
