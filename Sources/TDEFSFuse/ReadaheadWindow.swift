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

    /// The sysfs file for the mount whose device number is `device`.
    static func path(device: dev_t) -> String {
        // glibc's major()/minor() encoding (sys/sysmacros.h, not imported into Swift).
        let d = UInt64(device)
        let major = ((d >> 8) & 0xfff) | ((d >> 32) & ~UInt64(0xfff))
        let minor = (d & 0xff) | ((d >> 12) & ~UInt64(0xff))
        return "/sys/class/bdi/\(major):\(minor)/read_ahead_kb"
    }

    /// Raises the window of the mount with device number `device`; failures (no sysfs, not root)
    /// leave the kernel's default and are logged at debug level only.
    static func raise(device: dev_t, logger: Logger) {
        let file = path(device: device)
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
