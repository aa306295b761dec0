import CPlatform
import Glibc
import Prometheus
import Synchronization

/// A mounted volume's metrics, in a Prometheus registry (swift-prometheus), served in the text
/// format by MetricsServer. docs/operations.md lists every metric.
///
/// Request counters and latency histograms are made once per operation up front, so recording a
/// request costs two clock reads, two atomic adds and one short lock, and allocates nothing
/// (bench/alloc checks). Error counters per (operation, errno) are made at the first error of
/// their kind. Everything else (handles, epochs, rotation, census, authentication failures) is
/// read from the engine and tdefs.conf when a scrape comes.
public final class VolumeMetrics: Sendable {
    public struct Sources: Sendable {
        public var fileSystem: FileSystem
        public var keyring: Keyring
        public var backingPath: String
        public var mountpoint: String
        public init(fileSystem: FileSystem, keyring: Keyring, backingPath: String, mountpoint: String) {
            self.fileSystem = fileSystem; self.keyring = keyring; self.backingPath = backingPath; self.mountpoint = mountpoint
        }
    }

    /// Request latency buckets, 50 µs to 10 s.
    static let latencyBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100),
        .seconds(1), .seconds(10),
    ]
    /// errno values at or above this share one slot (none exist on Linux today).
    static let errnoSlots = 256

    let sources: Sources
    let registry = PrometheusCollectorRegistry()
    let requests: [Counter]
    let durations: [DurationHistogram]
    let errors: Mutex<[Counter?]>
    let readBytes: Counter
    let writtenBytes: Counter
    let mounted: Gauge
    let failures: [Counter]
    let openFiles: Gauge
    let openDirectories: Gauge
    let cachedInodes: Gauge
    let keyEpoch: Gauge
    let keyEpochsUnlocked: Gauge
    let rotationInProgress: Gauge
    let rotationReencrypting: Gauge
    let rotationDone: Gauge
    let rotationTotal: Gauge
    let rotationUpdated: Gauge
    let censusState: LabeledGauges
    let censusFiles: LabeledGauges
    let censusDamagedHeaders: Gauge
    let volumeInfo: LabeledGauges
    /// Scrapes one at a time: the values read from the engine are set, then emitted.
    let scrape = Mutex<Void>(())

    public init(_ sources: Sources) {
        self.sources = sources
        let r = registry
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
            r.makeCounter(descriptor: .named(name, help), labels: labels)
        }
        func gauge(_ name: String, _ help: String) -> Gauge { r.makeGauge(descriptor: .named(name, help)) }
        requests = RequestKind.allCases.map {
            counter("tdefs_requests_total", "FUSE requests answered, by operation.", [("op", $0.label)])
        }
        durations = RequestKind.allCases.map {
            r.makeDurationHistogram(descriptor: .named("tdefs_request_duration_seconds",
                                                       "Time from a FUSE request's arrival in the daemon to its answer, by operation."),
                                    labels: [("op", $0.label)], buckets: Self.latencyBuckets)
        }
        errors = Mutex([Counter?](repeating: nil, count: RequestKind.allCases.count * Self.errnoSlots))
        readBytes = counter("tdefs_read_bytes_total", "Plaintext bytes answered to FUSE reads.")
        writtenBytes = counter("tdefs_written_bytes_total", "Plaintext bytes taken by FUSE writes.")
        mounted = gauge("tdefs_mounted", "1 while the daemon serves the mount, 0 once it has stopped serving.")
        failures = EngineCounters.Object.allCases.map {
            counter("tdefs_authentication_failures_total",
                    "Stored data that failed authentication or was found damaged (the request got EIO and a log line), by kind of object.",
                    [("object", $0.label)])
        }
        openFiles = gauge("tdefs_open_files", "File handles open (opened or created and not yet released).")
        openDirectories = gauge("tdefs_open_directories", "Directory handles open.")
        cachedInodes = gauge("tdefs_cached_inodes", "Files and directories the kernel holds, each an open descriptor in the daemon.")
        keyEpoch = gauge("tdefs_key_epoch", "The key epoch new files are encrypted under.")
        keyEpochsUnlocked = gauge("tdefs_key_epochs_unlocked", "Key epochs whose master keys the daemon holds.")
        rotationInProgress = gauge("tdefs_rotation_in_progress", "1 while tdefs.conf records a rotation that has not finished.")
        rotationReencrypting = gauge("tdefs_rotation_reencrypting",
                                     "1 while the rotation in progress is a re-encryption (rotate --reencrypt).")
        rotationDone = gauge("tdefs_rotation_done_files", "Files the rotation in progress has done (as last recorded in tdefs.conf).")
        rotationTotal = gauge("tdefs_rotation_total_files", "Files the rotation in progress has to do (as last recorded in tdefs.conf).")
        rotationUpdated = gauge("tdefs_rotation_updated_timestamp_seconds",
                                "When the rotation in progress last recorded progress (tdefs.conf's mtime, Unix time); 0 when none.")
        censusState = LabeledGauges(r, "tdefs_census_state", help: "1 for the state of the daemon's census: counting (first walk "
                                    + "running), current, or stale (a rotation rewrote headers; recounted when it ends).")
        censusFiles = LabeledGauges(r, "tdefs_files", help: "Regular files by the key epoch of their header (the daemon's census).")
        censusDamagedHeaders = gauge("tdefs_damaged_headers", "Files whose header is damaged (the daemon's census; run tdefs fsck).")
        volumeInfo = LabeledGauges(r, "tdefs_volume_info", help: "Always 1; the labels describe the volume.")
    }

    // MARK: Requests (FUSE worker threads)

    /// The start time of a request, for `finish`.
    @inline(__always)
    public static func now() -> UInt64 { tdefs_monotonic_ns() }

    /// Counts one answered request; `errno` is that of its error answer, 0 for success.
    @inline(__always)
    public func finish(_ op: RequestKind, startedAt start: UInt64, errno code: Int32) {
        let i = op.rawValue
        requests[i].increment()
        let elapsed = tdefs_monotonic_ns() &- start
        durations[i].record(.nanoseconds(Int64(truncatingIfNeeded: min(elapsed, UInt64(Int64.max)))))
        if code != 0 { countError(op, code) }
    }

    public func read(bytes: Int) { readBytes.increment(by: Int64(max(bytes, 0))) }

    public func wrote(bytes: Int) { writtenBytes.increment(by: Int64(max(bytes, 0))) }

    func countError(_ op: RequestKind, _ code: Int32) {
        let slot = op.rawValue * Self.errnoSlots + Int(min(max(code, 0), Int32(Self.errnoSlots - 1)))
        let counter = errors.withLock { slots in
            if let c = slots[slot] { return c }
            let name = tdefs_errno_name(code).map { String(cString: $0) } ?? "errno \(code)"
            let c = registry.makeCounter(descriptor: .named("tdefs_request_errors_total", "FUSE requests answered with an error, by operation and errno."), labels: [("op", op.label), ("errno", name)])
            slots[slot] = c
            return c
        }
        counter.increment()
    }

    // MARK: State

    public func setMounted(_ serving: Bool) { mounted.set(to: serving ? 1 : 0) }

    /// The text of one scrape (Prometheus text format 0.0.4).
    public func exposition() -> [UInt8] {
        scrape.withLock { _ in
            refresh()
            return registry.emitToBuffer()
        }
    }

    func refresh() {
        let fs = sources.fileSystem
        openFiles.set(to: Double(fs.counters.openFiles))
        openDirectories.set(to: Double(fs.counters.openDirectories))
        cachedInodes.set(to: Double(fs.cachedInodeCount))
        for (i, object) in EngineCounters.Object.allCases.enumerated() {
            failures[i].reset()
            failures[i].increment(by: Int64(fs.counters.authenticationFailures(object)))
        }
        let current = sources.keyring.current
        keyEpoch.set(to: Double(current.epoch))
        keyEpochsUnlocked.set(to: Double(sources.keyring.epochNumbers.count))

        let config = try? Volume.loadConfig(backingPath: sources.backingPath)
        let rotation = config?.rotation
        rotationInProgress.set(to: rotation == nil ? 0 : 1)
        rotationReencrypting.set(to: rotation?.state == "reencrypting" ? 1 : 0)
        rotationDone.set(to: Double(rotation?.done ?? 0))
        rotationTotal.set(to: Double(rotation?.total ?? 0))
        var st = stat()
        let changed = rotation != nil && stat(sources.backingPath + "/" + Volume.configName, &st) == 0 ? Double(st.st_mtim.tv_sec) : 0
        rotationUpdated.set(to: changed)

        let snapshot = fs.census.snapshot(currentEpoch: current.epoch)
        censusState.set([([("state", snapshot.state.rawValue)], 1)])
        var files: [([(String, String)], Double)] = []
        for (epoch, n) in (snapshot.census?.filesPerEpoch ?? [:]).sorted(by: { $0.key < $1.key }) {
            files.append(([("epoch", String(epoch))], Double(n)))
        }
        // Every epoch tdefs.conf lists shows, with 0 when no file uses it.
        for e in config?.epochs ?? [] where snapshot.census?.filesPerEpoch[e.epoch] == nil && snapshot.census != nil {
            files.append(([("epoch", String(e.epoch))], 0))
        }
        censusFiles.set(files)
        censusDamagedHeaders.set(to: Double(snapshot.census?.damagedHeaders ?? 0))
        volumeInfo.set([([("backing", sources.backingPath), ("mountpoint", sources.mountpoint),
                          ("cipher", current.size.cipherName), ("format_version", String(config?.formatVersion ?? 0))], 1)])
    }
}

/// Gauges of one name whose label sets come and go (an epoch retired, a cipher changed): label
/// sets no longer set are taken out of the registry.
final class LabeledGauges: Sendable {
    let registry: PrometheusCollectorRegistry
    let name: String
    let help: String
    let gauges = Mutex<[[String]: Gauge]>([:])

    init(_ registry: PrometheusCollectorRegistry, _ name: String, help: String) {
        self.registry = registry
        self.name = name
        self.help = help
    }

    func set(_ values: [([(String, String)], Double)]) {
        gauges.withLock { known in
            var keep = Set<[String]>()
            for (labels, value) in values {
                let key = labels.flatMap { [$0.0, $0.1] }
                keep.insert(key)
                let gauge = known[key] ?? registry.makeGauge(descriptor: .named(name, help), labels: labels)
                known[key] = gauge
                gauge.set(to: value)
            }
            for (key, gauge) in known where !keep.contains(key) {
                registry.unregisterGauge(gauge)
                known[key] = nil
            }
        }
    }
}

extension MetricNameDescriptor {
    /// A full metric name (tdefs_...) with its help text.
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
