import Glibc

/// Checks that turn the usual mount failures into a sentence an operator can act on; libfuse
/// itself only prints a terse line to stderr.
enum MountPreflight {
    static func check(mountpoint: String, options: MountOptions) throws {
        var attr = stat()
        if stat(mountpoint, &attr) != 0 {
            let error = errno
            switch error {
            case ENOENT:
                throw FuseDaemonError("mountpoint \(mountpoint) does not exist")
            case ENOTCONN, ECONNABORTED:
                throw FuseDaemonError("mountpoint \(mountpoint) is a FUSE mount whose daemon is gone; "
                    + "unmount it first (fusermount3 -u \(mountpoint))")
            default:
                throw FuseDaemonError("cannot use mountpoint \(mountpoint): \(String(cString: strerror(error)))")
            }
        }
        if attr.st_mode & S_IFMT != S_IFDIR {
            throw FuseDaemonError("mountpoint \(mountpoint) is not a directory")
        }
        if access("/dev/fuse", F_OK) != 0 {
            throw FuseDaemonError("/dev/fuse does not exist: load the fuse kernel module "
                + "(modprobe fuse), or in a container pass the device (--device /dev/fuse)")
        }
        if options.allowOther && getuid() != 0 && !userAllowOtherEnabled() {
            throw FuseDaemonError("-o allow_other needs 'user_allow_other' in /etc/fuse.conf "
                + "when the daemon does not run as root")
        }
    }

    /// Why fuse_session_mount failed, as far as can be told after the fact.
    static func mountFailureMessage(mountpoint: String, options: MountOptions) -> String {
        var message = "cannot mount \(options.fsname) on \(mountpoint)"
        if getuid() != 0 {
            message += " (not root: libfuse used fusermount3, which must be installed setuid root"
                + " and may refuse a mountpoint you do not own)"
        }
        return message + "; see the message from fuse above"
    }

    private static func userAllowOtherEnabled() -> Bool {
        guard let file = fopen("/etc/fuse.conf", "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 1024)
        while fgets(&line, Int32(line.count), file) != nil {
            let bytes = line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
            if text == "user_allow_other" { return true }
        }
        return false
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let first = s.first, chars.contains(first) { s = s.dropFirst() }
        while let last = s.last, chars.contains(last) { s = s.dropLast() }
        return String(s)
    }
}
