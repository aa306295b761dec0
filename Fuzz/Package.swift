// swift-tools-version:6.0
// libFuzzer targets for tdefs' parsers. Kept out of the main package: a normal `swift build` of
// the main package never needs -sanitize=fuzzer. Build and run with scripts/fuzz.sh; the recipe is
// in docs/hardening.md:
//   swift build --package-path Fuzz --scratch-path .build-fuzz -c release \
//       -Xswiftc -sanitize=fuzzer,address
// Each target's main.swift defines LLVMFuzzerTestOneInput and, as top-level code, hands it to
// libFuzzer's driver (runFuzzer): SwiftPM points an executable's main at its Swift entry point,
// so -parse-as-library (no entry point) fails to link with "undefined symbol '<Target>_main'".
import PackageDescription

let targets = ["FuzzConfig", "FuzzHeader", "FuzzNames", "FuzzLongName", "FuzzDirIV", "FuzzSymlink", "FuzzControl", "FuzzMetrics", "FuzzECryptfs", "FuzzKMIP"]

let package = Package(
    name: "tdefs-fuzz",
    platforms: [.macOS(.v13)],
    products: targets.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(name: "tdefs", path: ".."),
    ],
    targets: [
        // Fixed test keys and helpers shared by the targets.
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer", .product(name: "TDEFSCore", package: "tdefs")]),
        // Writes the seed corpus (Fuzz/corpus) from real encoders and the fixed keys.
        .executableTarget(name: "FuzzSeeds", dependencies: ["FuzzSupport", .product(name: "TDEFSCore", package: "tdefs")]),
    ] + targets.map {
        .executableTarget(name: $0, dependencies: ["FuzzSupport", .product(name: "TDEFSCore", package: "tdefs")])
    },
    swiftLanguageModes: [.v6]
)
