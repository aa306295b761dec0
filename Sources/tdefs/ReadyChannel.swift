import Glibc

/// The pipe on which the daemon child tells the waiting parent how the mount went:
/// "ok\n", or "error <exit status> <message>\n".
struct ReadyChannel: Sendable {
    let fd: Int32

    func sendReady() { send("ok\n") }

    func sendFailure(_ error: CLIError) {
        let oneLine = error.message.split(whereSeparator: \.isNewline).joined(separator: " ")
        send("error \(error.status.rawValue) \(oneLine)\n")
    }

    private func send(_ text: String) {
        Console.put(fd, text)
        close(fd)
    }

    /// The parent's reading of the child's line (nil: the pipe closed without one).
    enum Outcome: Equatable {
        case ready
        case failed(ExitStatus, String)
    }

    static func parse(_ line: String) -> Outcome? {
        if line == "ok" { return .ready }
        guard line.hasPrefix("error ") else { return nil }
        let rest = line.dropFirst("error ".count)
        let parts = rest.split(separator: " ", maxSplits: 1)
        guard let first = parts.first, let code = Int32(first) else { return .failed(.mountFailed, String(rest)) }
        let status = ExitStatus(rawValue: code) ?? .mountFailed
        return .failed(status, parts.count > 1 ? String(parts[1]) : "mount failed")
    }
}
