import ArgumentParser
import TDEFSCore

extension VolumeProfile: ExpressibleByArgument {}

/// `--profile database|general` of the commands that make a volume (init, import).
struct ProfileOption: ParsableArguments {
    @Option(help: ArgumentHelp("What the volume is for, recorded in tdefs.conf: database (the default of init: no extended attributes, the fast path) or general (user.* extended attributes kept). Every mount follows it unless -o xattr or -o noxattr says otherwise.",
                               valueName: "database|general"))
    var profile: VolumeProfile?
}
