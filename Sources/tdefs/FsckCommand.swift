import ArgumentParser
import Glibc
import TDEFSCore

/// tdefs fsck BACKING [KEY] [--repair] [--json]: checks every IV file, name, long-name file,
/// header, extent tag, symlink target and extended attribute.
struct FsckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Check a volume's integrity: every name, header and extent tag (exit 20 when damaged).",
        usage: Synopsis.usage(Synopsis.fsck),
        discussion: """
            --repair removes only what tdefs itself left behind (orphaned long-name files, temporaries \
            of interrupted operations); it never deletes a user's data. On a mounted volume fsck only \
            checks (files written during the check may be reported).
            """)

    @Argument(help: ArgumentHelp("The backing directory, or the mountpoint of a mounted volume.", valueName: "backing|mountpoint"))
    var path: String

    @OptionGroup var key: KeyOptions

    @Flag(help: "Remove leftovers of interrupted operations (never a user's data).")
    var repair = false

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    func run() throws {
        let located = VolumeLocator.locate(path)
        let config = try Volume.loadConfig(backingPath: located.backingPath)
        if repair && (located.mount != nil || VolumeLock.isHeld(backingPath: located.backingPath)) {
            throw CLIError(.alreadyMounted, "\(located.backingPath) is mounted: unmount it before fsck --repair")
        }
        let keyring = try key.openKEK(for: config, backing: located.backingPath).keyring
        let bar = ProgressBar(label: "fsck", enabled: !json && isatty(2) == 1)
        let checker = VolumeChecker(backingPath: located.backingPath, keyring: keyring, repair: repair,
                                    reencryptTarget: config.reencryptTarget, formatVersion: config.formatVersion) { done, total, n in
            bar.update(doneBytes: done, totalBytes: total, items: n, itemName: "objects")
        }
        let report = try checker.run()
        bar.finish()
        if json {
            Console.out(Self.json(report, backing: located.backingPath).render())
        } else {
            Console.out(Self.text(report, backing: located.backingPath))
        }
        if report.damaged { throw ExitCode(ExitStatus.fsckFoundDamage.rawValue) }
    }

    static func json(_ r: FsckReport, backing: String) -> JSONText {
        .object([
            ("backing", .string(backing)),
            ("clean", .bool(r.clean)),
            ("damaged", .bool(r.damaged)),
            ("leftovers", .int(Int64(r.leftovers))),
            ("directories", .int(Int64(r.directories))),
            ("files", .int(Int64(r.files))),
            ("symlinks", .int(Int64(r.symlinks))),
            ("otherObjects", .int(Int64(r.otherObjects))),
            ("extents", .int(Int64(r.extents))),
            ("bytes", .int(r.bytes)),
            ("problems", .array(r.problems.map { p in
                .object([
                    ("kind", .string(p.kind.rawValue)),
                    ("path", p.path.map { .string($0) } ?? .null),
                    ("backingPath", .string(p.backingPath)),
                    ("detail", .string(p.detail)),
                    ("repairable", .bool(p.repairable)),
                    ("repaired", .bool(p.repaired)),
                ])
            })),
        ])
    }

    static func text(_ r: FsckReport, backing: String) -> String {
        var lines = ["\(backing): \(r.directories) directories, \(r.files) files, \(r.symlinks) symlinks, "
                     + "\(r.extents) extents (\(ProgressBar.bytes(r.bytes))) checked"]
        for p in r.problems {
            let state = p.repaired ? " (repaired)" : p.repairable ? " (fsck --repair fixes this)" : ""
            lines.append("\(p.kind.rawValue): \(p.path ?? "?") [\(p.backingPath)]: \(p.detail)\(state)")
        }
        if r.damaged {
            lines.append("DAMAGED: \(r.problems.filter { !$0.repaired && !$0.repairable }.count) problem(s)")
        } else if r.leftovers > 0 {
            lines.append("clean, with \(r.leftovers) leftover(s) of interrupted operations (tdefs fsck --repair removes them)")
        } else {
            lines.append("clean")
        }
        return lines.joined(separator: "\n")
    }
}
