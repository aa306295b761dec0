/// How the daemon mounts: what ends up in the kernel's mount options.
public struct MountOptions: Sendable {
    /// Lets users other than the mounting one in (`-o allow_other`); the kernel checks permissions.
    public var allowOther: Bool
    /// Mounts read-only (`-o ro`).
    public var readOnly: Bool
    /// Serves user.* extended attributes. Without them (`-o noxattr`) the kernel learns at the
    /// first attempt that there are none and stops asking: no GETXATTR round trip before every
    /// write (security.capability) or per file in `ls -l` (ACLs).
    public var extendedAttributes: Bool
    /// Further `-o` values passed through to libfuse as they are (e.g. "noatime").
    public var fuseOptions: [String]
    /// The absolute backing path; shows as the mount's source in /proc/mounts.
    public var fsname: String

    public init(allowOther: Bool = false, readOnly: Bool = false, extendedAttributes: Bool = true,
                fuseOptions: [String] = [], fsname: String) {
        self.allowOther = allowOther
        self.readOnly = readOnly
        self.extendedAttributes = extendedAttributes
        self.fuseOptions = fuseOptions
        self.fsname = fsname
    }

    /// The `-o` values handed to libfuse, in order. `default_permissions` is always there: the
    /// kernel checks permissions, the engine does not.
    var fuseOptionList: [String] {
        var list = [
            "fsname=" + Self.escaped(fsname),
            "subtype=tdefs",
            "default_permissions",
        ]
        if allowOther { list.append("allow_other") }
        if readOnly { list.append("ro") }
        for option in fuseOptions where !option.isEmpty {
            list.append(option)
        }
        return list
    }

    /// The argument vector for fuse_session_new: a program name, then one `-o` per option so a
    /// passed-through value cannot merge with another.
    var argumentVector: [String] {
        var argv = ["tdefs"]
        for option in fuseOptionList {
            argv.append("-o")
            argv.append(option)
        }
        return argv
    }

    /// libfuse splits `-o` values at commas and takes a backslash as an escape; a backing path
    /// may contain either.
    static func escaped(_ value: String) -> String {
        var out = ""
        for ch in value {
            if ch == "," || ch == "\\" { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}

/// Why the daemon could not mount or run, in words for the operator.
public struct FuseDaemonError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
