// swift-tools-version: 6.1
// Benchmarks live in their own package so the SDK's package graph (and its test runs) never builds
// them; they use the SDK the way an outside user would, through its products.
import PackageDescription

let package = Package(
    name: "LocoLLMBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "LocoLLM", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "gguf-open-benchmark",
            dependencies: [.product(name: "GGUFFormat", package: "LocoLLM")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
