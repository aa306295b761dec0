import Logging
import TDEFSCore

/// The daemon's metrics (`-o metrics=`): the registry the FUSE adapter records into, and the
/// responder that serves it. The endpoint is opened before the mount, so one that cannot be served
/// (a port in use, a path that is not a socket) fails the mount before anything is mounted.
struct DaemonMetrics: Sendable {
    let volume: VolumeMetrics
    let server: MetricsServer
    let logger: Logger

    static func open(_ endpoint: MetricsEndpoint?, _ sources: VolumeMetrics.Sources,
                     logger: Logger) throws(CLIError) -> DaemonMetrics? {
        guard let endpoint else { return nil }
        let volume = VolumeMetrics(sources)
        do {
            let server = try MetricsServer(endpoint: endpoint, logger: logger) { volume.exposition() }
            return DaemonMetrics(volume: volume, server: server, logger: logger)
        } catch {
            throw CLIError(.mountFailed, "cannot serve metrics at \(endpoint): \(error)")
        }
    }

    func start() {
        server.start()
        logger.info("metrics at \(server.endpoint)")
    }

    /// tdefs_mounted: 1 once the mount answers, 0 when the daemon stops serving it.
    func serving(_ on: Bool) { volume.setMounted(on) }

    func stop() { server.stop() }
}
