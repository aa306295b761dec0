// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "tdefs",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tdefs", targets: ["tdefs"]),
        // For the fuzz package in Fuzz/ (built separately with -sanitize=fuzzer; see docs/hardening.md).
        .library(name: "TDEFSCore", targets: ["TDEFSCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The metrics registry and the Prometheus text format (docs/operations.md, "Metrics").
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libfuse3 low-level API; FUSE_USE_VERSION is set in the shim header.
        .systemLibrary(name: "CFuse", path: "Sources/CFuse", pkgConfig: "fuse3"),
        // OpenSSL libcrypto (EVP only).
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        // OpenSSL libssl: the KMIP key source's mutual TLS.
        .systemLibrary(name: "COpenSSLTLS", path: "Sources/COpenSSLTLS"),
        // p11-kit: PKCS#11 modules and RFC 7512 URIs (the PKCS#11 key source).
        .systemLibrary(name: "CP11Kit", path: "Sources/CP11Kit", pkgConfig: "p11-kit-1"),
        // Constants and syscall wrappers that need _GNU_SOURCE (O_PATH, renameat2, ...).
        .target(name: "CPlatform", path: "Sources/CPlatform"),
        // Filesystem engine, codecs, keys, backing store: plain Swift, testable without a mount.
        .target(
            name: "TDEFSCore",
            dependencies: [
                "COpenSSL", "COpenSSLTLS", "CP11Kit", "CPlatform",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/TDEFSCore"
        ),
        // Thin libfuse3 adapter over the engine.
        .target(
            name: "TDEFSFuse",
            dependencies: [
                "CFuse", "CPlatform", "TDEFSCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/TDEFSFuse"
        ),
        .executableTarget(
            name: "tdefs",
            dependencies: [
                "TDEFSCore", "TDEFSFuse", "CPlatform",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/tdefs",
            plugins: ["BuildInfoPlugin"]
        ),
        // BuildInfo.swift for `tdefs --version`: VERSION and the git commit (scripts/build-info.sh).
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), path: "Plugins/BuildInfoPlugin"),
        // What both test targets share: real servers started for a test (PyKMIP), free ports.
        .target(name: "TDEFSTestSupport", path: "Tests/TDEFSTestSupport"),
        .testTarget(
            name: "TDEFSCoreTests",
            dependencies: ["TDEFSCore", "CPlatform", "TDEFSTestSupport"],
            path: "Tests/TDEFSCoreTests"
        ),
        .testTarget(
            name: "TDEFSMountTests",
            dependencies: ["TDEFSCore", "CPlatform", "TDEFSTestSupport"],
            path: "Tests/TDEFSMountTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
