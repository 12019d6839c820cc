// swift-tools-version: 6.1
// The README's Swift blocks as an outside package builds them: it depends on this repository by
// path and uses only its LocoLLM product. Sources/ is written by scripts/readme-snippets.sh;
// Tests/LocoLLMTests/ReadmeSnippetTests.swift checks it is current, builds this package and runs it.
//
//   swift build --package-path Tests/ReadmeSnippets --scratch-path .build/readme-snippets
//   .build/readme-snippets/debug/readme-snippets
import PackageDescription

let package = Package(
    name: "ReadmeSnippets",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "LocoLLM", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "readme-snippets",
            dependencies: [.product(name: "LocoLLM", package: "LocoLLM")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
