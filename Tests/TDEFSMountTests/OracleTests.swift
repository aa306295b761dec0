import XCTest
import Glibc

/// Thousands of random operations applied to the mount and to a plain directory on the same host;
/// every result (return value, errno, bytes read) must match, and so must the whole trees at the end.
/// The seed is printed; TDEFS_ORACLE_SEED replays a run, TDEFS_ORACLE_OPS changes its length.
final class OracleTests: MountTestCase {
    struct FDPair { var mount: Int32; var plain: Int32; var path: String; var flags: Int32 }

    var rng = SeededRNG(seed: 0)
    var fds = [FDPair]()
    var history = [String]()
    var succeeded = 0

    /// A relative target that climbs out of both trees to a directory that does not exist.
    static let escapingTarget = String(repeating: "../", count: 40) + "tdefs-oracle-nowhere/x"
    static let names = ["a", "b", "c", "d", "e"]
    lazy var pool: [String] = {
        var p = Self.names
        for d in ["a", "b", "c"] { for n in Self.names.prefix(4) { p.append(d + "/" + n) } }
        for n in ["a", "b"] { p.append("a/a/" + n) }
        return p
    }()

    func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
    func rand(_ n: Int) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }
    func chance(_ percent: Int) -> Bool { rand(100) < percent }

    func randomLength() -> Int {
        switch rand(10) {
        case 0: return 0
        case 1...4: return 1 + rand(200)
        case 5...7: return rand(3 * 4096 + 500)
        default: return 4096 * (1 + rand(3)) + (chance(50) ? 0 : rand(8) - 4)
        }
    }

    func randomOffset(size: Int64) -> Int64 {
        switch rand(10) {
        case 0: return 0
        case 1: return Int64(4096 * rand(8)) - Int64(rand(3))  // around extent boundaries
        case 2: return Int64(100_000 + rand(1_000_000))        // far past EOF: a hole
        default: return Int64(rand(Int(max(size, 0)) + 8192))
        }
    }

    func testRandomOperationsMatchPlainDirectory() throws {
        let env = ProcessInfo.processInfo.environment
        let seed = env["TDEFS_ORACLE_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        let count = env["TDEFS_ORACLE_OPS"].flatMap { Int($0) } ?? 4000
        print("oracle seed: \(seed) (replay: TDEFS_ORACLE_SEED=\(seed) swift test --filter OracleTests)")
        rng = SeededRNG(seed: seed)
        defer { for p in fds { close(p.mount); close(p.plain) } }

        for i in 0..<count {
            let (desc, mismatch) = step()
            // Failed calls end in an errno ("No such file or directory (2)"); count the rest.
            if desc.range(of: #"\(\d+\)$"#, options: .regularExpression) == nil && !desc.hasSuffix("error") { succeeded += 1 }
            history.append("#\(i) \(desc)")
            if history.count > 25 { history.removeFirst() }
            if let mismatch {
                XCTFail("oracle seed \(seed): operation #\(i) differs: \(mismatch)\nlast operations:\n" + history.joined(separator: "\n"))
                return
            }
        }
        for p in fds { close(p.mount); close(p.plain) }
        fds.removeAll()
        print("oracle: \(count) operations, \(succeeded) succeeded on both sides")
        XCTAssertGreaterThan(succeeded, count / 4, "too few operations succeeded for the run to mean much")

        let a = try snapshotTree(m), b = try snapshotTree(vol.plain)
        let diffs = treeDifferences(a, b, labels: ("mount", "plain"))
        XCTAssertTrue(diffs.isEmpty, "oracle seed \(seed): trees differ after \(count) operations:\n" + diffs.prefix(30).joined(separator: "\n"))
        XCTAssertGreaterThan(a.count, 1, "the run should leave something behind")
    }

    /// Applies one random operation to both trees; returns its description and a mismatch, if any.
    func step() -> (String, String?) {
        let M = m, P = vol.plain
        func both(_ desc: String, _ op: (String) -> Int32) -> (String, String?) {
            let r1 = errnoOf { op(M) }, r2 = errnoOf { op(P) }
            return (desc + " -> \(errName(r2))", r1 == r2 ? nil : "\(desc): mount \(errName(r1)), plain \(errName(r2))")
        }
        let roll = rand(100)
        switch roll {
        case 0..<14: // open / create
            if fds.count >= 8 { return closeOne() }
            let path = pick(pool)
            var flags: Int32 = pick([O_RDWR, O_RDWR, O_WRONLY, O_RDONLY])
            if chance(60) { flags |= O_CREAT }
            if chance(15) && flags & O_CREAT != 0 { flags |= O_EXCL }
            if chance(15) && (flags & O_ACCMODE) != O_RDONLY { flags |= O_TRUNC }
            if chance(15) { flags |= O_APPEND }
            let mode: mode_t = pick([0o644, 0o600, 0o755])
            let f1 = open(M + "/" + path, flags | O_CLOEXEC, mode); let e1 = f1 < 0 ? errno : 0
            let f2 = open(P + "/" + path, flags | O_CLOEXEC, mode); let e2 = f2 < 0 ? errno : 0
            let desc = "open(\(path), flags=0x\(String(flags, radix: 16)), \(String(mode, radix: 8))) -> \(errName(e2))"
            if (f1 >= 0) != (f2 >= 0) || e1 != e2 {
                if f1 >= 0 { close(f1) }; if f2 >= 0 { close(f2) }
                return (desc, "\(desc): mount \(errName(e1)), plain \(errName(e2))")
            }
            if f1 >= 0 { fds.append(FDPair(mount: f1, plain: f2, path: path, flags: flags)) }
            return (desc, nil)
        case 14..<30: // pwrite
            guard let p = fds.isEmpty ? nil : pick(fds) else { return both("noop", { _ in 0 }) }
            var st = stat(); fstat(p.plain, &st)
            let off = randomOffset(size: Int64(st.st_size)), data = rng.bytes(randomLength())
            let n1 = data.withUnsafeBytes { pwrite(p.mount, $0.baseAddress, data.count, off_t(off)) }; let e1 = n1 < 0 ? errno : 0
            let n2 = data.withUnsafeBytes { pwrite(p.plain, $0.baseAddress, data.count, off_t(off)) }; let e2 = n2 < 0 ? errno : 0
            let desc = "pwrite(\(p.path), \(data.count) @ \(off)) -> \(n2) \(errName(e2))"
            return (desc, n1 == n2 && e1 == e2 ? nil : "\(desc): mount \(n1) \(errName(e1))")
        case 30..<42: // pread
            guard let p = fds.isEmpty ? nil : pick(fds) else { return both("noop", { _ in 0 }) }
            var st = stat(); fstat(p.plain, &st)
            let off = randomOffset(size: Int64(st.st_size)), len = randomLength()
            let r1 = preadBytes(p.mount, count: len, at: off), r2 = preadBytes(p.plain, count: len, at: off)
            let desc = "pread(\(p.path), \(len) @ \(off)) -> \(r2.bytes.count) \(errName(r2.errno))"
            if r1.errno != r2.errno || r1.bytes.count != r2.bytes.count { return (desc, "\(desc): mount \(r1.bytes.count) \(errName(r1.errno))") }
            if r1.bytes != r2.bytes {
                let i = (0..<r1.bytes.count).first { r1.bytes[$0] != r2.bytes[$0] }!
                return (desc, "\(desc): bytes differ first at file offset \(off + Int64(i))")
            }
            return (desc, nil)
        case 42..<48: // ftruncate / truncate
            let size = Int64(pick([0, rand(20000), 4096 * rand(5), rand(300_000)]))
            if chance(70), let p = fds.isEmpty ? nil : pick(fds) {
                let r1 = errnoOf { ftruncate(p.mount, off_t(size)) }, r2 = errnoOf { ftruncate(p.plain, off_t(size)) }
                let desc = "ftruncate(\(p.path), \(size)) -> \(errName(r2))"
                return (desc, r1 == r2 ? nil : "\(desc): mount \(errName(r1))")
            }
            let path = pick(pool)
            return both("truncate(\(path), \(size))") { truncate($0 + "/" + path, off_t(size)) }
        case 48..<54:
            let a = pick(pool), b = pick(pool)
            return both("rename(\(a), \(b))") { rename($0 + "/" + a, $0 + "/" + b) }
        case 54..<58:
            let a = pick(pool), b = pick(pool)
            return both("link(\(a), \(b))") { link($0 + "/" + a, $0 + "/" + b) }
        case 58..<64:
            let a = fds.isEmpty || chance(50) ? pick(pool) : pick(fds).path
            return both("unlink(\(a))") { unlink($0 + "/" + a) }
        case 64..<69:
            let a = pick(pool)
            return both("mkdir(\(a))") { mkdir($0 + "/" + a, 0o755) }
        case 69..<72:
            let a = pick(pool)
            return both("rmdir(\(a))") { rmdir($0 + "/" + a) }
        case 72..<75:
            // Dangling and escaping targets; the escaping one must lead nowhere that exists:
            // the mount and the plain directory share their parents, so a target that reached an
            // existing directory there (it was "../../x", i.e. /tmp/x) would let operations through
            // it on one side change what the other side sees.
            let a = pick(pool), target = pick(Self.names + ["../a", "a/b", "nowhere", Self.escapingTarget])
            return both("symlink(\(target), \(a))") { symlink(target, $0 + "/" + a) }
        case 75..<78:
            let a = pick(pool)
            let t1 = readLink(M + "/" + a), e1 = t1 == nil ? errno : 0
            let t2 = readLink(P + "/" + a), e2 = t2 == nil ? errno : 0
            let desc = "readlink(\(a)) -> \(t2 ?? errName(e2))"
            return (desc, t1 == t2 && e1 == e2 ? nil : "\(desc): mount \(t1 ?? errName(e1))")
        case 78..<83: // mmap MAP_SHARED write + msync
            guard let p = fds.first(where: { $0.flags & O_ACCMODE == O_RDWR && $0.flags & O_APPEND == 0 }) else { return closeOne() }
            var st = stat(); fstat(p.plain, &st)
            let size = Int(st.st_size)
            guard size > 0 else { return ("mmap skipped (empty \(p.path))", nil) }
            let off = rand(size), data = rng.bytes(min(size - off, 1 + rand(6000)))
            func mapWrite(_ fd: Int32) -> Int32 {
                guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else { return -1 }
                data.withUnsafeBytes { (base + off).copyMemory(from: $0.baseAddress!, byteCount: data.count) }
                let r = msync(base, size, MS_SYNC)
                munmap(base, size)
                return r
            }
            let r1 = errnoOf { mapWrite(p.mount) }, r2 = errnoOf { mapWrite(p.plain) }
            let desc = "mmap-write(\(p.path), \(data.count) @ \(off) of \(size)) -> \(errName(r2))"
            return (desc, r1 == r2 ? nil : "\(desc): mount \(errName(r1))")
        case 83..<87:
            guard let p = fds.isEmpty ? nil : pick(fds) else { return both("noop", { _ in 0 }) }
            let data = chance(50)
            let r1 = errnoOf { data ? fdatasync(p.mount) : fsync(p.mount) }, r2 = errnoOf { data ? fdatasync(p.plain) : fsync(p.plain) }
            let desc = "\(data ? "fdatasync" : "fsync")(\(p.path)) -> \(errName(r2))"
            return (desc, r1 == r2 ? nil : "\(desc): mount \(errName(r1))")
        case 87..<92:
            return closeOne()
        case 92..<97: // stat
            let a = pick(pool)
            let s1 = lstatOrNil(M + "/" + a), e1 = s1 == nil ? errno : 0
            let s2 = lstatOrNil(P + "/" + a), e2 = s2 == nil ? errno : 0
            let desc = "lstat(\(a)) -> \(errName(e2))"
            if e1 != e2 { return (desc, "\(desc): mount \(errName(e1))") }
            if let s1, let s2 {
                let dir = s2.st_mode & S_IFMT == S_IFDIR
                if s1.st_mode != s2.st_mode || s1.st_nlink != s2.st_nlink || (!dir && s1.st_size != s2.st_size) {
                    return (desc, "\(desc): mount mode \(String(s1.st_mode, radix: 8)) nlink \(s1.st_nlink) size \(s1.st_size), plain mode \(String(s2.st_mode, radix: 8)) nlink \(s2.st_nlink) size \(s2.st_size)")
                }
            }
            return (desc, nil)
        default: // readdir
            let a = pick([""] + pool.filter { !$0.contains("/") || chance(30) })
            let l1 = (try? listDir(M + "/" + a))?.sorted(), l2 = (try? listDir(P + "/" + a))?.sorted()
            let desc = "readdir(\(a.isEmpty ? "." : a)) -> \(l2.map { "\($0)" } ?? "error")"
            return (desc, l1 == l2 ? nil : "\(desc): mount \(l1.map { "\($0)" } ?? "error")")
        }
    }

    func closeOne() -> (String, String?) {
        guard !fds.isEmpty else { return ("close: nothing open", nil) }
        let i = rand(fds.count)
        let p = fds.remove(at: i)
        let r1 = errnoOf { close(p.mount) }, r2 = errnoOf { close(p.plain) }
        let desc = "close(\(p.path)) -> \(errName(r2))"
        return (desc, r1 == r2 ? nil : "\(desc): mount \(errName(r1))")
    }
}
