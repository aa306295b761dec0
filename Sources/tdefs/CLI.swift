import CPlatform
import ArgumentParser
import Glibc
import TDEFSCore

/// The `tdefs` command and its subcommands.
struct TDEFS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tdefs",
        abstract: "Transparent data encryption for any database, as a FUSE filesystem.",
        discussion: "\(Synopsis.key)\n(none given and standard input is a terminal: tdefs prompts.) Exit statuses are listed in docs/exit-codes.md.",
        version: "tdefs \(BuildInfo.version) (commit \(BuildInfo.commit))",
        subcommands: [InitCommand.self, MountCommand.self, UnmountCommand.self, LockCommand.self, StatusCommand.self, PasswdCommand.self,
                      RotateCommand.self, RetireCommand.self, ExportKeyCommand.self, FsckCommand.self, ImportCommand.self, ShredCommand.self]
    )
}

enum CLI {
    /// Parses the command line, runs the command and exits with its status. Command-line errors
    /// exit 2 (not ArgumentParser's 64); help and --version exit 0.
    static func main() -> Never {
        // Every command may hold key material: no core dumps from the first instruction on.
        _ = tdefs_disable_core_dumps()
        // Key memory that cannot be locked is said once (the daemon logs it instead: DaemonRunner).
        MemoryLock.setReporter { Console.warn($0) }
        // Maintenance walks hold a descriptor per directory in progress (a re-encryption of 5,000
        // directories, say): never fail on a soft limit lower than what we may have.
        _ = tdefs_raise_nofile_limit()
        do {
            var command = try TDEFS.parseAsRoot()
            try command.run()
            exit(ExitStatus.ok.rawValue)
        } catch let error as CLIError {
            Console.fail(error.message)
            exit(error.status.rawValue)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            let code = TDEFS.exitCode(for: error)
            let message = TDEFS.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { Console.out(message) }
                exit(0)
            }
            if isParserError(code) {
                if !message.isEmpty { Console.error(message) }
                exit(ExitStatus.usage.rawValue)
            }
            let classified = CLIError.from(error)
            Console.fail(classified.message)
            exit(classified.status.rawValue)
        }
    }

    private static func isParserError(_ code: ExitCode) -> Bool {
        code == .validationFailure
    }
}
