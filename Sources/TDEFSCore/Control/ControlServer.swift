import CPlatform
import Glibc
import Logging
import Synchronization

/// The daemon's control socket: the CLI's online rotation and retirement talk to it. Only root or
/// the daemon's own user may connect (SO_PEERCRED); each connection carries one request. The
/// socket and every reply name this daemon (ControlEndpoint).
public final class ControlServer: Sendable {
    let path: String
    /// This daemon's identity, in every reply.
    let identity: String
    let keyring: Keyring
    let fileSystem: FileSystem
    let logger: Logger
    let listenFD: Int32
    let stopped = Atomic<Bool>(false)
    /// See ControlReply.configGeneration.
    let configGeneration: Atomic<UInt64>
    /// Called for `tdefs lock` (after the reply is on its way): stops the daemon.
    let onLock: @Sendable () -> Void
    /// The online re-encryption, if one was started: state, error, progress.
    let reencryption = Mutex<(state: String, error: String?, progress: FileSystem.ReencryptProgress)?>(nil)

    /// Listens at `endpoint`'s socket as the daemon `nonce`. EADDRINUSE when a daemon answers
    /// there already: a live socket is never replaced (a stale one, nobody listening, is).
    public init(endpoint: ControlEndpoint, nonce: String, keyring: Keyring, fileSystem: FileSystem, configGeneration: UInt64,
                logger: Logger, onLock: @escaping @Sendable () -> Void = {}) throws(Errno) {
        self.onLock = onLock
        path = endpoint.socketPath
        self.configGeneration = Atomic(configGeneration)
        identity = endpoint.identity(nonce: nonce)
        self.keyring = keyring
        self.fileSystem = fileSystem
        self.logger = logger
        if mkdir(ControlSocketPath.directory, 0o700) != 0 && errno != EEXIST { throw Errno.current }
        if let live = UnixSocket.connect(path) {
            close(live)
            throw Errno(Glibc.EADDRINUSE)
        }
        unlink(path)
        let fd = try sys { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw Errno.ENAMETOOLONG }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let old = umask(0o177)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard r == 0, listen(fd, 8) == 0 else {
            let e = Errno.current
            close(fd)
            throw e
        }
        listenFD = fd
    }

    /// Serves requests on a thread of its own until `stop()`.
    public func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { arg in
            let server = Unmanaged<ControlServer>.fromOpaque(arg!).takeRetainedValue()
            server.serve()
            return nil
        }, box)
        pthread_detach(thread)
    }

    public func stop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        unlink(path)
    }

    func serve() {
        while !stopped.load(ordering: .acquiring) {
            let c = tdefs_accept_cloexec(listenFD)
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            handle(c)
            close(c)
        }
        close(listenFD)
    }

    func handle(_ c: Int32) {
        let peer = tdefs_peer_uid(c)
        guard peer == 0 || peer == Int(getuid()) else {
            reply(c, ControlReply(ok: false, error: "permission denied"))
            return
        }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        // One locked buffer for the request line and a master key after it (see keyLength).
        let capacity = ControlRequest.maxBytes + 1 + VolumeCrypto.masterKeyBytes
        let buf = SecureBytes(count: capacity)
        var filled = 0
        func readMore() -> Bool {
            let n = buf.withUnsafeMutableBytes { read(c, $0.baseAddress! + filled, capacity - filled) }
            if n <= 0 { return false }
            filled += n
            return true
        }
        func newline() -> Int? { buf.withUnsafeBytes { $0[0..<filled].firstIndex(of: 0x0A) } }
        while newline() == nil && filled < capacity && readMore() {}
        guard let end = newline(), end <= ControlRequest.maxBytes,
              let request = ControlRequest.parse(buf.withUnsafeBytes { Array($0[0..<end]) }) else {
            reply(c, ControlReply(ok: false, error: "malformed request"))
            return
        }
        var key: SecureBytes?
        if let length = request.keyLength {
            while filled < end + 1 + length && readMore() {}
            guard filled == end + 1 + length else {
                reply(c, ControlReply(ok: false, error: "malformed request"))
                return
            }
            key = buf.withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[(end + 1)..<(end + 1 + length)])) }
        }
        guard request.daemon == identity else {
            logger.warning("refused a control request for daemon \(request.daemon ?? "(none named)"): this daemon is \(identity)")
            reply(c, ControlReply(ok: false, error: "this request is for another daemon (\(request.daemon ?? "none named")); this is \(identity)"))
            return
        }
        reply(c, perform(request, key: key))
        if request.op == .lock { onLock() }
    }

    func perform(_ r: ControlRequest, key: SecureBytes? = nil) -> ControlReply {
        if let g = r.generation { configGeneration.max(g, ordering: .sequentiallyConsistent) }
        switch r.op {
        case .status:
            break
        case .addEpoch:
            guard let epoch = r.epoch, let size = r.cipher.flatMap(AESKeySize.init(cipherName:)) else {
                return ControlReply(ok: false, error: "malformed request")
            }
            let master: SecureBytes
            if let key {
                master = key
            } else {
                // An older CLI's base64 key in the request line.
                guard var raw = r.key.flatMap(Base64URL.decode) else { return ControlReply(ok: false, error: "malformed request") }
                master = SecureBytes(copying: raw)
                raw.withUnsafeMutableBytes { tdefs_zero($0) }
            }
            guard keyring.add(EpochKeys(epoch: epoch, size: size, masterKey: master, volumeID: keyring.volumeID), makeCurrent: true) else {
                logger.error("refused to replace key epoch \(epoch), which this daemon holds under another key (a rolled-back or edited tdefs.conf?)")
                return ControlReply(ok: false, error: "epoch \(epoch) is already unlocked in this daemon under another key; refusing to replace it")
            }
            // The CLI rewraps the headers behind the daemon now: recounted when it sends recount.
            fileSystem.census.markStale()
            logger.notice("key epoch \(epoch) unlocked and current for new files (online rotation)")
        case .retire:
            guard let epoch = r.epoch, epoch != keyring.current.epoch else {
                return ControlReply(ok: false, error: "the current epoch cannot be retired")
            }
            keyring.remove(epoch: epoch)
            logger.notice("key epoch \(epoch) retired from memory")
        case .reencrypt:
            guard let epoch = r.epoch, let target = keyring.epoch(epoch), epoch == keyring.current.epoch else {
                return ControlReply(ok: false, error: "epoch \(r.epoch ?? 0) is not the current epoch of this daemon")
            }
            let started: Bool = reencryption.withLock { state in
                if state?.state == "running" { return false }
                state = ("running", nil, FileSystem.ReencryptProgress())
                return true
            }
            if started { startReencryption(target) }
        case .recount:
            fileSystem.recountCensus()
        case .lock:
            logger.notice("locking on request (tdefs lock): the daemon stops serving and drops its keys")
        }
        let re = reencryption.withLock { $0 }
        let current = keyring.current.epoch
        var reply = ControlReply(ok: true, currentEpoch: current, epochs: keyring.epochNumbers,
                                 reencrypt: re?.state, files: re?.progress.files, bytes: re?.progress.bytes,
                                 census: ControlReply.Census(fileSystem.census.snapshot(currentEpoch: current)))
        reply.configGeneration = configGeneration.load(ordering: .sequentiallyConsistent)
        return reply
    }

    func startReencryption(_ target: EpochKeys) {
        let job = ReencryptJob(server: self, target: target)
        let box = Unmanaged.passRetained(job).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { arg in
            let job = Unmanaged<ReencryptJob>.fromOpaque(arg!).takeRetainedValue()
            job.run()
            return nil
        }, box)
        pthread_detach(thread)
    }

    func reply(_ c: Int32, _ r: ControlReply) {
        var r = r
        r.daemon = identity
        let bytes = r.encoded()
        // MSG_NOSIGNAL: a peer that hung up (a probe that only connects) costs no SIGPIPE.
        _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

func tdefs_zero(_ b: UnsafeMutableRawBufferPointer) {
    if let p = b.baseAddress { tdefs_explicit_bzero(p, b.count) }
}

/// The online re-encryption, on a thread of its own.
final class ReencryptJob: Sendable {
    let server: ControlServer
    let target: EpochKeys
    init(server: ControlServer, target: EpochKeys) { self.server = server; self.target = target }

    func run() {
        server.logger.notice("re-encryption under epoch \(target.epoch) started")
        server.fileSystem.census.markStale()
        defer { server.fileSystem.recountCensus() }
        do {
            try server.fileSystem.reencryptTree(to: target) { p in
                server.reencryption.withLock { $0?.progress = p }
            }
            server.reencryption.withLock { $0?.state = "done" }
            server.logger.notice("re-encryption under epoch \(target.epoch) done")
        } catch {
            server.reencryption.withLock { $0?.state = "failed"; $0?.error = "\(error)" }
            server.logger.error("re-encryption under epoch \(target.epoch) failed: \(error)")
        }
    }
}
