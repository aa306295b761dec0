import Foundation
import Glibc

/// A real PyKMIP 0.10 server (Debian's python3-pykmip, installed by scripts/test-deps.sh) on
/// 127.0.0.1 and a free port, with mutual TLS under certificates made here by openssl: a CA, the
/// server's (subjectAltName IP:127.0.0.1), a client's, and a client's from another CA.
public final class KMIPTestServer {
    public let directory: String
    public private(set) var port: UInt16 = 0
    var process: Process?

    public var caCertificate: String { directory + "/ca.crt" }
    public var clientCertificate: String { directory + "/client.crt" }
    public var clientKey: String { directory + "/client.key" }
    public var rogueCertificate: String { directory + "/rogue-client.crt" }
    public var rogueKey: String { directory + "/rogue-client.key" }

    static let serverBinary = "/usr/bin/pykmip-server"
    /// Debian's interpreter: the package lives in /usr/lib/python3/dist-packages.
    static let python = "/usr/bin/python3"

    public init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.serverBinary) else {
            throw TestSupportError("\(Self.serverBinary) is missing: run scripts/test-deps.sh (python3-pykmip)")
        }
        var template = Array("/tmp/tdefs-kmip-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        try makeCertificates()
        // The port is free when picked, but another process may take it before the server binds.
        for attempt in 1...3 {
            port = Self.freePort()
            do {
                try start()
                return
            } catch where attempt < 3 {
                continue
            }
        }
    }

    deinit { stop() }

    public static func freePort() -> UInt16 { freeLoopbackPort() }

    func run(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TestSupportError("openssl \(args.prefix(2).joined(separator: " ")) failed")
        }
    }

    func makeCertificates() throws {
        let ca = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=tdefs test CA"] + ca)
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue-ca.key", "-out", "rogue-ca.crt", "-days", "30", "-subj", "/CN=another CA"] + ca)
        try "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"
            .write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        // PyKMIP takes the client certificate's CN as the user and needs extendedKeyUsage clientAuth.
        try "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
            .write(toFile: directory + "/client.ext", atomically: true, encoding: .utf8)
        for (name, cn, signer, ext) in [("server", "127.0.0.1", "ca", "server.ext"), ("client", "tdefs", "ca", "client.ext"),
                                        ("rogue-client", "tdefs", "rogue-ca", "client.ext")] {
            try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(cn)"])
            try run(["x509", "-req", "-in", "\(name).csr", "-CA", "\(signer).crt", "-CAkey", "\(signer).key", "-CAcreateserial",
                     "-out", "\(name).crt", "-days", "30", "-sha256", "-extfile", ext])
        }
        chmod(directory + "/client.key", 0o600)
    }

    func start() throws {
        try FileManager.default.createDirectory(atPath: directory + "/policies", withIntermediateDirectories: true)
        let conf = """
            [server]
            hostname=127.0.0.1
            port=\(port)
            certificate_path=\(directory)/server.crt
            key_path=\(directory)/server.key
            ca_path=\(directory)/ca.crt
            auth_suite=TLS1.2
            policy_path=\(directory)/policies
            enable_tls_client_auth=True
            tls_cipher_suites=
                TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
                TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384
            logging_level=INFO
            database_path=\(directory)/pykmip.db

            """
        try conf.write(toFile: directory + "/server.conf", atomically: true, encoding: .utf8)
        let p = Process()
        // Foundation starts the child in a process group of its own (its PID): the server, its
        // policy monitor and multiprocessing helper are all in it, and stop() ends that group.
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = [Self.serverBinary, "-f", directory + "/server.conf", "-l", directory + "/server.log"]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        process = p
        // Ready when the log says the connection service started (right after listen()).
        for _ in 0..<600 {
            if let log = try? String(contentsOfFile: directory + "/server.log", encoding: .utf8) {
                if log.contains("Starting connection service") { return }
                if log.contains("failed to bind") { break }
            }
            guard p.isRunning else { break }
            usleep(50_000)
        }
        let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "(no log)"
        endServer()
        try? FileManager.default.removeItem(atPath: directory + "/server.log")
        throw TestSupportError("PyKMIP's server did not start: \(log.suffix(800))")
    }

    /// Ends the server and removes its files.
    public func stop() {
        endServer()
        _ = try? FileManager.default.removeItem(atPath: directory)
    }

    /// Ends the server's process group (ours: see start()), also when its leader has exited and
    /// left its children (the policy monitor, the multiprocessing helper). SIGTERM first; PyKMIP
    /// takes up to 13 s to leave its accept loop, so after 2 s the group is killed.
    public func endServer() {
        guard let p = process else { return }
        let group = p.processIdentifier
        kill(-group, SIGTERM)
        for _ in 0..<40 where kill(-group, 0) == 0 { usleep(50_000) }
        kill(-group, SIGKILL)
        p.waitUntilExit()
        process = nil
    }
}
