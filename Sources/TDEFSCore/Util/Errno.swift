import Glibc

/// A POSIX error number, thrown by the engine and answered to the kernel as-is.
public struct Errno: Error, Equatable, CustomStringConvertible, Sendable {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }

    /// The calling thread's errno.
    public static var current: Errno { Errno(errno) }

    public var description: String { String(cString: strerror(code)) + " (errno \(code))" }

    public static let EIO = Errno(Glibc.EIO)
    public static let ENOENT = Errno(Glibc.ENOENT)
    public static let EINVAL = Errno(Glibc.EINVAL)
    public static let ENAMETOOLONG = Errno(Glibc.ENAMETOOLONG)
    public static let ENOTEMPTY = Errno(Glibc.ENOTEMPTY)
    public static let EEXIST = Errno(Glibc.EEXIST)
    public static let EPERM = Errno(Glibc.EPERM)
    public static let ENOTSUP = Errno(Glibc.EOPNOTSUPP)
    public static let ENODATA = Errno(Glibc.ENODATA)
    public static let ERANGE = Errno(Glibc.ERANGE)
    public static let EBADF = Errno(Glibc.EBADF)
    public static let EISDIR = Errno(Glibc.EISDIR)
    public static let ENOTDIR = Errno(Glibc.ENOTDIR)
    public static let EFBIG = Errno(Glibc.EFBIG)
    public static let ENOMEM = Errno(Glibc.ENOMEM)
}

/// Runs a syscall that returns -1 on failure, throwing its errno. Retries on EINTR.
@inline(__always)
func sys<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = errno
        if e == EINTR { continue }
        throw Errno(e)
    }
}
