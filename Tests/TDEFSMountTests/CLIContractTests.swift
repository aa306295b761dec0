import Foundation
import Glibc
import XCTest

/// The command line and its documents agree: every synopsis in README.md, docs/cli.md and
/// `--help` is the same line; `mount --help` names every -o option the docs recommend; the
/// missing-key error names every key source; `--version` prints VERSION and the commit; a
/// weakened passphrase KDF is explicit and shown.
final class CLIContractTests: XCTestCase {
    var bin = ""
    let root = Harness.packageRoot()

    override func setUpWithError() throws {
        try super.setUpWithError()
        bin = try XCTUnwrap(Harness.binaryPath(), "the tdefs binary (TDEFS_BIN or .build/debug/tdefs)")
    }

    func read(_ relative: String) throws -> String { try String(contentsOfFile: root + "/" + relative, encoding: .utf8) }

    /// The subcommands `tdefs --help` lists.
    func subcommands() -> [String] {
        let help = runCommand(bin, ["--help"]).stdout
        guard let start = help.range(of: "SUBCOMMANDS:\n") else { return [] }
        let block = help[start.upperBound...].split(separator: "\n\n", maxSplits: 1).first ?? ""
        return block.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("    ") else { return nil }
            return line.split(separator: " ").first.map(String.init)
        }.filter { $0 != "help" }
    }

    /// The USAGE line of `tdefs CMD --help`, joined when wrapped.
    func helpSynopsis(_ command: String) -> String {
        let help = runCommand(bin, [command, "--help"]).stdout
        guard let start = help.range(of: "USAGE: ") else { return "" }
        let block = help[start.upperBound...].split(separator: "\n\n", maxSplits: 1).first ?? ""
        return block.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// Indented `tdefs CMD ...` lines without a path in them (examples name paths, synopses do not),
    /// whitespace collapsed.
    func documentedSynopses(_ text: String) -> [String] {
        text.split(separator: "\n").filter { $0.hasPrefix("    tdefs ") && !$0.contains("/") }
            .map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
    }

    func testEverySynopsisIsTheSameInHelpReadmeAndCliDoc() throws {
        let commands = subcommands()
        XCTAssertGreaterThanOrEqual(commands.count, 10, "subcommands from --help: \(commands)")
        let readme = documentedSynopses(try read("README.md"))
        let cli = documentedSynopses(try read("docs/cli.md"))
        for command in commands {
            let help = helpSynopsis(command)
            XCTAssertTrue(help.hasPrefix("tdefs \(command)"), "tdefs \(command) --help: \(help)")
            let inReadme = readme.filter { $0.hasPrefix("tdefs \(command) ") || $0 == "tdefs \(command)" }
            let inCli = cli.filter { $0.hasPrefix("tdefs \(command) ") || $0 == "tdefs \(command)" }
            XCTAssertEqual(inReadme, [help], "README.md's synopsis of \(command)")
            XCTAssertEqual(Set(inCli), [help], "docs/cli.md's synopses of \(command)")
            XCTAssertEqual(inCli.count, 2, "docs/cli.md shows \(command) in its summary and in its section")
        }
    }

    func testMountHelpNamesEveryRecommendedOption() throws {
        let help = runCommand(bin, ["mount", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        var recommended = Set<String>()
        for doc in ["README.md", "docs/cli.md", "docs/operations.md", "docs/databases.md", "systemd/examples/volume.conf"] {
            let text = try read(doc)
            let regex = try NSRegularExpression(pattern: #"-o ([a-z_]+(,[a-z_]+)*)"#)
            for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let list = String(text[Range(match.range(at: 1), in: text)!])
                recommended.formUnion(list.split(separator: ",").map(String.init))
            }
        }
        // Not mount options: journalctl's -o json / short in the docs' command lines.
        recommended.subtract(["json", "short", "cat", "verbose"])
        XCTAssertTrue(recommended.isSuperset(of: ["allow_other", "noxattr", "noatime"]), "\(recommended)")
        for option in recommended {
            XCTAssertTrue(help.contains(option), "mount --help does not mention -o \(option)")
        }
    }

    func testMissingKeyErrorNamesEveryKeySource() throws {
        let help = runCommand(bin, ["mount", "--help"]).stdout
        let keyOptions = Set(help.split(whereSeparator: \.isWhitespace).map(String.init)
            .filter { $0.hasPrefix("--key-") || $0.hasPrefix("--passphrase-") })
        XCTAssertTrue(keyOptions.isSuperset(of: ["--key-file", "--passphrase-file", "--key-command", "--passphrase-command", "--key-credential"]), "\(keyOptions)")
        let dir = makeTempDir("tdefs-cli-contract")
        defer { _ = runCommand("/bin/rm", ["-rf", dir]) }
        // Standard input is /dev/null, not a terminal: no prompt, exit 2, every source named.
        let r = runCommand(bin, ["init", dir + "/v"])
        XCTAssertEqual(r.status, 2, r.summary)
        for option in keyOptions { XCTAssertTrue(r.stderr.contains(option), "the error does not name \(option): \(r.stderr)") }
    }

    func testVersionPrintsTheReleaseAndTheCommit() throws {
        let version = try read("VERSION").trimmingCharacters(in: .whitespacesAndNewlines)
        let r = runCommand(bin, ["--version"])
        XCTAssertEqual(r.status, 0, r.summary)
        let line = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(line.hasPrefix("tdefs \(version) (commit "), line)
        let git = runCommand(Harness.which("git") ?? "/usr/bin/git", ["-C", root, "rev-parse", "--short=12", "HEAD"])
        XCTAssertEqual(git.status, 0, git.summary)
        let head = git.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(line == "tdefs \(version) (commit \(head))" || line == "tdefs \(version) (commit \(head)+changes)",
                      "\(line) does not name HEAD \(head)")
    }

    func testAWeakenedKeyDerivationIsExplicitAndShown() throws {
        let dir = makeTempDir("tdefs-cli-kdf")
        defer { _ = runCommand("/bin/rm", ["-rf", dir]) }
        let pass = dir + "/pass"
        try "a passphrase\n".write(toFile: pass, atomically: true, encoding: .utf8)
        let weak = runCommand(bin, ["init", dir + "/weak", "--passphrase-file", pass, "--scrypt-n", "1024"])
        XCTAssertEqual(weak.status, 0, weak.summary)
        XCTAssertTrue(weak.stderr.contains("weaker than the default"), weak.stderr)
        let status = runCommand(bin, ["status", dir + "/weak", "--json"])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any], status.summary)
        XCTAssertEqual(json["weakKeyDerivation"] as? Bool, true)
        XCTAssertEqual((json["scrypt"] as? [String: Any])?["n"] as? Int, 1024)
        XCTAssertTrue(runCommand(bin, ["status", dir + "/weak"]).stdout.contains("weaker than the default"))

        let strong = runCommand(bin, ["init", dir + "/strong", "--passphrase-file", pass])
        XCTAssertEqual(strong.status, 0, strong.summary)
        XCTAssertFalse(strong.stderr.contains("weaker"), strong.stderr)
        let s2 = runCommand(bin, ["status", dir + "/strong", "--json"])
        let j2 = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s2.stdout.utf8)) as? [String: Any], s2.summary)
        XCTAssertEqual(j2["weakKeyDerivation"] as? Bool, false)
        XCTAssertEqual((j2["scrypt"] as? [String: Any])?["n"] as? Int, 65536)

        XCTAssertEqual(runCommand(bin, ["init", dir + "/bad", "--passphrase-file", pass, "--scrypt-n", "1000"]).status, 2,
                       "N must be a power of two")
    }

    func testTheDaemonWarnsAtMountOfAWeakenedVolume() throws {
        let v = TestVolume(bin: try Harness.requireMountable(), prefix: "tdefs-cli-kdf-mount")
        defer { v.destroy() }
        let pass = v.base + "/pass"
        try "a passphrase\n".write(toFile: pass, atomically: true, encoding: .utf8)
        try v.initVolume(["--scrypt-n", "1024"], keyArgs: ["--passphrase-file", pass])
        try v.mount(keyArgs: ["--passphrase-file", pass])
        v.unmount()
        XCTAssertTrue(v.daemonLog().contains("key derivation is weaker than the default (scrypt N=1024"), v.daemonLog())
    }
}
