import ArgumentParser
import TDEFSCore

/// tdefs status BACKING|MOUNTPOINT [--json]: needs no key.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a volume's format, cipher, key epochs, rotation and mount state (no key needed).",
        usage: Synopsis.usage(Synopsis.status))

    @Argument(help: ArgumentHelp("A backing directory, or the mountpoint of a mounted volume.", valueName: "backing|mountpoint"))
    var path: String

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let located = VolumeLocator.locate(path)
        let config = try Volume.loadConfig(backingPath: located.backingPath)
        // Mounted: the daemon's census (no walk of the tree); else a walk of the backing directory.
        let census = try CountedCensus.of(backingPath: located.backingPath, config: config, mounted: located.mount != nil)
        let report = StatusReport(located: located, config: config, census: census,
                                  locked: VolumeLock.isHeld(backingPath: located.backingPath))
        if json {
            Console.out(report.json.render())
        } else {
            Console.out(report.humanText)
        }
    }
}
