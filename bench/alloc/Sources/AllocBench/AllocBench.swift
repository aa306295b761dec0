import Glibc
import Logging
import MallocInterposerSwift
import TDEFSCore

// Warms the engine up (header loaded, buffer and context pools filled), then counts heap
// allocations over many read and write requests of the sizes the kernel sends, each recorded in
// the request metrics as the FUSE adapter does with -o metrics= (count, latency, bytes).
// Exit 1 if any request allocated.

func makeVolume() -> (String, FileSystem, Keyring) {
    var template = Array("/tmp/tdefs-alloc-XXXXXX".utf8CString)
    let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    let volumeID = Random.bytes(16)
    let keys = EpochKeys(epoch: 1, size: .aes256, masterKey: SecureBytes.random(count: 32), volumeID: volumeID)
    let fd = open(dir, O_RDONLY | O_DIRECTORY)
    try! DirectoryIV.random(keys: keys, version: FormatVersions.directoryIV(forVolume: FormatVersions.newestVolume)).write(directoryFD: fd)
    close(fd)
    let keyring = Keyring(volumeID: volumeID, currentEpoch: 1, epochs: [keys])
    let fs = try! FileSystem(backingPath: dir, keyring: keyring,
                             options: EngineOptions(chownToCaller: false), logger: Logger(label: "alloc-bench"))
    return (dir, fs, keyring)
}

@main
struct AllocBench {
    static func main() {
        let (dir, fs, keyring) = makeVolume()
        let metrics = VolumeMetrics(.init(fileSystem: fs, keyring: keyring, backingPath: dir, mountpoint: dir))
        let (_, file) = try! fs.create(parent: FileSystem.rootNode, name: "data", mode: 0o600, flags: O_RDWR, context: .daemon)
        let sizes = [4096, 16384, 131072, 1 << 20, 1000, 5000]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        memset(buffer.baseAddress!, 0x5A, buffer.count)
        let fileSize: Int64 = 64 << 20
        var rng: UInt64 = 0x1234_5678

        func next() -> UInt64 {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return rng >> 11
        }

        func request(_ i: Int) {
            let size = sizes[i % sizes.count]
            let offset = Int64(next() % UInt64(fileSize - Int64(size)))
            let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
            let start = VolumeMetrics.now()
            if i % 3 == 0 {
                metrics.wrote(bytes: try! fs.write(file, offset: offset, from: UnsafeRawBufferPointer(part)))
                metrics.finish(.write, startedAt: start, errno: 0)
            } else {
                metrics.read(bytes: try! fs.read(file, offset: offset, into: part))
                metrics.finish(.read, startedAt: start, errno: 0)
            }
        }

        // Fill the file, then warm up every path and pool.
        var off: Int64 = 0
        while off < fileSize {
            _ = try! fs.write(file, offset: off, from: UnsafeRawBufferPointer(buffer))
            off += Int64(buffer.count)
        }
        for i in 0..<600 { request(i) }

        let requests = 20_000
        MallocInterposerSwift.initialize()
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        for i in 0..<requests { request(i) }
        MallocInterposerSwift.unhook()
        let stats = MallocInterposerSwift.getStatistics()
        print("requests: \(requests) (reads and writes of 1000 B to 1 MiB at random offsets)")
        print("mallocCount: \(stats.mallocCount), mallocBytes: \(stats.mallocBytesCount), freeCount: \(stats.freeCount)")
        print("allocations per request: \(Double(stats.mallocCount) / Double(requests))")
        fs.release(file)
        fs.destroy()
        _ = system("rm -rf '\(dir)'")
        exit(stats.mallocCount == 0 ? 0 : 1)
    }
}
