import Foundation
import Glibc
import XCTest

/// A real systemd-journald in a journal namespace of its own (started by the test, removed after),
/// and its entries read back with journalctl. tdefs is pointed at it with $TDEFS_JOURNAL_SOCKET.
final class JournalNamespace {
    let name: String
    let logFile: String
    private var journald: Background?

    var socketPath: String { "/run/systemd/journal.\(name)/socket" }
    var environment: [String: String] { ["TDEFS_JOURNAL_SOCKET": socketPath] }

    /// `tag` keeps namespaces of concurrent test classes apart; `directory` holds journald's output.
    init(tag: String, directory: String) throws {
        let candidates = ["/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald"]
        guard let journaldBin = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw HarnessError("systemd-journald is needed (Debian's systemd)")
        }
        name = "tdefs\(tag)\(getpid())"
        logFile = directory + "/journald.log"
        let j = try Background(journaldBin, [name], stdout: logFile, stderr: logFile)
        journald = j
        let socket = socketPath
        try DB.wait(30, "journald to listen") { access(socket, F_OK) == 0 || !j.running }
        guard j.running else { throw HarnessError("journald exited: \(DB.readFile(logFile))") }
    }

    func stop() {
        if let journald {
            journald.signal(SIGTERM)
            if journald.wait(timeout: 30) == nil { journald.signal(SIGKILL); journald.wait() }
        }
        journald = nil
        let machine = ((try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        _ = runCommand("/bin/rm", ["-rf", "/run/systemd/journal.\(name)", "/run/log/journal/\(machine).\(name)",
                                   "/var/log/journal/\(machine).\(name)"])
    }

    /// The namespace's entries matching `match` (journalctl's FIELD=VALUE), as JSON objects.
    func entries(_ match: String) throws -> [[String: Any]] {
        let journalctl = try XCTUnwrap(Harness.which("journalctl"))
        _ = runCommand(journalctl, ["--namespace=\(name)", "--flush"])
        let r = runCommand(journalctl, ["--namespace=\(name)", "-o", "json", "--no-pager", match])
        XCTAssertEqual(r.status, 0, r.summary)
        return r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Everything the namespace holds, as journalctl prints it (to search for what must not be there).
    func dump() throws -> String {
        let journalctl = try XCTUnwrap(Harness.which("journalctl"))
        _ = runCommand(journalctl, ["--namespace=\(name)", "--flush"])
        return runCommand(journalctl, ["--namespace=\(name)", "-o", "export", "--no-pager"]).stdout
    }
}
