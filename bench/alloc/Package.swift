// swift-tools-version:6.0
// Counts heap allocations on the engine's read and write paths (issue: hot paths allocate
// nothing per request). Run: bash bench/alloc/run.sh
import Foundation
import PackageDescription

// The project's own package, two levels up; SwiftPM names a path dependency after its directory,
// which is whatever the clone is called.
let projectName = URL(fileURLWithPath: Context.packageDirectory)
    .deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "tdefs-alloc-bench",
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.0"),
    ],
    targets: [
        .executableTarget(
            name: "AllocBench",
            dependencies: [
                .product(name: "TDEFSCore", package: projectName),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            path: "Sources/AllocBench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
