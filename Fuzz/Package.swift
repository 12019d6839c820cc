// swift-tools-version: 6.1
// A libFuzzer target for the GGUF reader. Build and run it as Documentation/Fuzzing.md describes:
//
//     swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address \
//         --scratch-path .build-fuzz
//
// The sanitizer flags are given on the command line, not here: `unsafeFlags` in a manifest would
// stop this package from being used as a dependency, and the fuzzer needs them only when built.
import PackageDescription

let package = Package(
    name: "GGUFFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "LocoLLM", path: ".."),
    ],
    targets: [
        // Calls libFuzzer's LLVMFuzzerRunDriver when it is linked in (see main.swift).
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "gguf-fuzz",
            dependencies: ["CFuzzerDriver", .product(name: "GGUFFormat", package: "LocoLLM")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
