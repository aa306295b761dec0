import CPlatform
import Glibc
import Logging

/// The kernel reads ahead at most 128 KiB on a FUSE mount: that is its default for the mount's
/// backing-device info, which INIT can lower but not raise. tdefs serves requests of up to 1 MiB
/// (CapabilityNegotiation.maxWrite), so once INIT is answered the daemon raises the mount's
/// window to that, through /sys/class/bdi/MAJOR:MINOR/read_ahead_kb: a sequential read then
/// takes an eighth of the requests, each decrypted in one piece. Random reads are unaffected (the
/// kernel does not read ahead for them). An operator may change the value there at any time.
enum ReadaheadWindow {
    static let kilobytes = Int(CapabilityNegotiation.maxWrite) / 1024

    /// The sysfs file of the FUSE mount at `mountpoint`; nil if that is not a FUSE mount (never
    /// another filesystem's window, should the mountpoint be something else by now).
    static func path(mountpoint: String) -> String? {
        var out = [UInt8](repeating: 0, count: 128)
        let rc = out.withUnsafeMutableBufferPointer {
            tdefs_fuse_readahead_path(mountpoint, UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)
        }
        guard rc == 0 else { return nil }
        return String(decoding: out.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Raises the window of the FUSE mount at `mountpoint`; failures (no sysfs, not root)
    /// leave the kernel's default and are logged at debug level only.
    static func raise(mountpoint: String, logger: Logger) {
        guard let file = path(mountpoint: mountpoint) else { return }
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            logger.debug("readahead window left as it is: \(file): \(String(cString: strerror(errno)))")
            return
        }
        defer { close(fd) }
        let text = Array("\(kilobytes)\n".utf8)
        if text.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) != text.count {
            logger.debug("readahead window left as it is: \(file): \(String(cString: strerror(errno)))")
        }
    }
}
