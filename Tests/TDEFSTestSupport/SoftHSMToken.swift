import Foundation
import Glibc

/// A SoftHSM2 token (Debian's softhsm2, installed by scripts/test-deps.sh) in a directory of the
/// test's own: SOFTHSM2_CONF names its configuration, which every process that uses the token
/// must see (`environment`). Initialized with a label and a user PIN kept in a 0600 file.
public final class SoftHSMToken {
    public static let module = "/usr/lib/softhsm/libsofthsm2.so"
    public let directory: String
    public let label: String
    public let pin = "4711-tdefs"
    public var pinFile: String { directory + "/pin" }
    public var environment: [String: String] { ["SOFTHSM2_CONF": directory + "/softhsm2.conf"] }

    public init(label: String = "tdefs-test") throws {
        guard access(Self.module, R_OK) == 0 else { throw TestSupportError("\(Self.module) is missing: run scripts/test-deps.sh (softhsm2)") }
        self.label = label
        var template = Array("/tmp/tdefs-hsm-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        try FileManager.default.createDirectory(atPath: directory + "/tokens", withIntermediateDirectories: true)
        try "directories.tokendir = \(directory)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(toFile: directory + "/softhsm2.conf", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: pinFile, contents: Data((pin + "\n").utf8), attributes: [.posixPermissions: 0o600])
        try run("/usr/bin/softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "so-\(pin)"])
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Deletes the AES key labelled `object` from the token (pkcs11-tool, from opensc).
    public func deleteKey(_ object: String) throws {
        try run("/usr/bin/pkcs11-tool", ["--module", Self.module, "--token-label", label, "--login", "--pin", pin,
                                         "--delete-object", "--type", "secrkey", "--label", object])
    }

    func run(_ tool: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestSupportError("\(tool) \(args.prefix(2).joined(separator: " ")) failed") }
    }
}
