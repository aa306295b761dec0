import Foundation
import PackagePlugin

/// Generates BuildInfo.swift (the version from VERSION and the git commit) before each build of
/// the tdefs executable, through scripts/build-info.sh; `tdefs --version` prints both.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildInfo")
        let root = context.package.directoryURL
        return [.prebuildCommand(
            displayName: "tdefs build info (VERSION, git commit)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [root.appending(path: "scripts/build-info.sh").path, root.path, output.path],
            outputFilesDirectory: output)]
    }
}
