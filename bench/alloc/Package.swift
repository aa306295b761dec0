// swift-tools-version:6.0
// Counts heap allocations on the engine's read and write paths (issue: hot paths allocate
// nothing per request). Run: bash bench/alloc/run.sh
import PackageDescription

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
                .product(name: "TDEFSCore", package: "main"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            path: "Sources/AllocBench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
