import CPlatform
import Glibc
import Synchronization

/// Extent writes under one file key, against the random-nonce bound of docs/format.md ("Nonce
/// bound": 2^32 GCM encryptions per key with random 128-bit nonces). Counted in memory as extents
/// are sealed (an atomic add, nothing allocated) and kept in the backing file's attribute
/// user.tdefs.sealed (u64, big-endian): at a close once 64 more have been sealed, at an fsync once
/// 4,096 more have; fewer are carried over in memory to the file's next open (so closing a small
/// file costs no attribute write), and a crash forgets at most 4,096. A file that reaches half the bound, and again
/// one that nears it, is reported in the log with the remedy (`tdefs rotate --reencrypt` gives it
/// a new key, and its count starts again). The count guards against use, not against an attacker,
/// who can reset it.
final class NonceBudget: Sendable {
    static let attribute = "user.tdefs.sealed"
    static let bound: UInt64 = 1 << 32
    static let halfway: UInt64 = 1 << 31
    static let near: UInt64 = bound - (1 << 28)
    static let persistAtSync: UInt64 = 4096
    static let persistAtClose: UInt64 = 64

    private let sealed: Atomic<UInt64>
    private let persisted: Atomic<UInt64>

    init(stored: UInt64 = 0, carried: UInt64 = 0) {
        sealed = Atomic(stored &+ carried)
        persisted = Atomic(stored)
    }

    /// The count kept in the backing file open at `fd` (0 when there is none), plus `carried`.
    static func load(fd: Int32, carried: UInt64) -> NonceBudget {
        var be: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &be) { tdefs_fgetxattr(fd, attribute, $0.baseAddress, 8) }
        return NonceBudget(stored: n == 8 ? UInt64(bigEndian: be) : 0, carried: carried)
    }

    /// Seals not yet in the backing file.
    var unpersisted: UInt64 {
        let n = sealed.load(ordering: .relaxed), p = persisted.load(ordering: .relaxed)
        return n > p ? n - p : 0
    }

    /// A new key starts from zero: its count is dropped from the backing file.
    static func reset(fd: Int32) { _ = tdefs_fremovexattr(fd, attribute) }

    var count: UInt64 { sealed.load(ordering: .relaxed) }

    /// Counts one sealed extent; the new count when it is one to report, else nil.
    @inline(__always)
    func countSeal() -> UInt64? {
        let n = sealed.add(1, ordering: .relaxed).newValue
        return n == Self.halfway || n == Self.near ? n : nil
    }

    /// Keeps the count in the backing file once it has grown by the threshold of a close or a sync.
    func persist(fd: Int32, atClose: Bool) {
        let n = sealed.load(ordering: .relaxed), p = persisted.load(ordering: .relaxed)
        guard n > p, n - p >= (atClose ? Self.persistAtClose : Self.persistAtSync) else { return }
        var be = n.bigEndian
        if withUnsafeBytes(of: &be, { tdefs_fsetxattr(fd, Self.attribute, $0.baseAddress, 8, 0) }) == 0 {
            persisted.store(n, ordering: .relaxed)
        }
    }
}
