import Glibc
import Synchronization

/// `-o key_check=SECONDS`: a thread that asks the KMIP server for the volume's secret again at
/// that interval. A refusal because of the key (revoked, deactivated, destroyed, archived:
/// KeyManagerError.keyIsWithdrawn) calls `onRevoked` once and ends the thread; anything else (a
/// server that cannot be reached, a General Failure, a malformed answer) goes to `onUnreachable`
/// and the volume stays mounted (a mounted volume does not need its server).
public final class KMIPKeyCheck: Sendable {
    let server: KMIPKeyServer
    let record: KMIPRecord
    let intervalSeconds: Int
    let onRevoked: @Sendable (KeyManagerError) -> Void
    let onUnreachable: @Sendable (KeyManagerError) -> Void
    let stopped = Atomic<Bool>(false)
    let thread = Mutex<pthread_t?>(nil)

    public init(server: KMIPKeyServer, record: KMIPRecord, intervalSeconds: Int,
                onRevoked: @escaping @Sendable (KeyManagerError) -> Void,
                onUnreachable: @escaping @Sendable (KeyManagerError) -> Void) {
        self.server = server; self.record = record; self.intervalSeconds = intervalSeconds
        self.onRevoked = onRevoked; self.onUnreachable = onUnreachable
    }

    /// Starts the thread (false when none could be made).
    public func start() -> Bool {
        var t = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&t, nil, { context in
            Unmanaged<KMIPKeyCheck>.fromOpaque(context!).takeRetainedValue().loop()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<KMIPKeyCheck>.fromOpaque(context).release()
            return false
        }
        thread.withLock { $0 = t }
        return true
    }

    /// Ends the thread (within a second, or after the request in flight) and waits for it.
    public func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        if let t = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) { pthread_join(t, nil) }
    }

    func loop() {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            // Sleep in one-second steps, so that stop() is quick.
            var waited = 0
            while waited < intervalSeconds && !stopped.load(ordering: .sequentiallyConsistent) {
                sleep(1)
                waited += 1
            }
            if stopped.load(ordering: .sequentiallyConsistent) { return }
            do {
                // The answer itself is not needed: the server's willingness is what is checked.
                _ = try KMIPEnvelope.open(record, server: server)
            } catch {
                if error.keyIsWithdrawn {
                    onRevoked(error)
                    return
                }
                onUnreachable(error)
            }
        }
    }
}
