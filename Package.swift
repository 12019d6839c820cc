// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "LocoLLM",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "LocoLLM", targets: ["LocoLLM"]),
        .library(name: "GGUFFormat", targets: ["GGUFFormat"]),
        .library(name: "Quantization", targets: ["Quantization"]),
        .library(name: "LocoServer", targets: ["LocoServer"]),
        .executable(name: "loco", targets: ["loco"]),
        .executable(name: "gguf-inspect", targets: ["gguf-inspect"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C, internal: SIMD inner loops with runtime CPU dispatch and scalar fallbacks.
        .target(name: "CKernels", exclude: ["README.md"]),
        // BLAS: Debian's libopenblas-dev (pkg-config) on Linux, Accelerate on Apple platforms (shim.h).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Under every Swift target: strict JSON, the atomic file writer, folders, SplitMix64, SHA-256 (swift-crypto).
        .target(
            name: "LocoSupport", dependencies: [.product(name: "Crypto", package: "swift-crypto")], exclude: ["README.md"]
        ),
        .target(name: "GGUFFormat", dependencies: ["LocoSupport"], exclude: ["README.md"]),
        .target(name: "Quantization", dependencies: ["GGUFFormat", "CKernels", "LocoSupport"], exclude: ["README.md"]),
        // Tokenizers from GGUF metadata (byte-level BPE, SentencePiece BPE), streaming detokenizer, chat templates.
        .target(name: "Tokenization", dependencies: ["GGUFFormat"], exclude: ["README.md"]),
        // Weight matrices over mapped GGUF data, quantized and BLAS products, norms, RoPE, attention, the thread pool.
        .target(
            name: "Tensor", dependencies: ["CKernels", "CBLAS", "GGUFFormat", "Quantization"], exclude: ["README.md"],
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS, .iOS, .visionOS]))]
        ),
        // Model configuration, architectures (one file each), sessions with a KV cache.
        .target(
            name: "Inference", dependencies: ["CKernels", "CBLAS", "Tensor", "Tokenization", "GGUFFormat", "LocoSupport"],
            exclude: ["README.md"]
        ),
        // Adapters: GGUF LoRA and PEFT safetensors, validation against a base, merge and export, registry and manifests.
        .target(
            name: "Adapters", dependencies: ["GGUFFormat", "Quantization", "Tensor", "Inference", "LocoSupport"],
            exclude: ["README.md"]
        ),
        // LoRA training on a frozen quantized base: trainer, graph, checkpoints, datasets (reaches
        // Inference's block backward through `package` access).
        .target(
            name: "Training",
            dependencies: ["CBLAS", "GGUFFormat", "Tensor", "Tokenization", "Inference", "Adapters", "LocoSupport"],
            exclude: ["README.md"]
        ),
        // Routing decisions: keyword and embedding routers over an Embedder (no model imported).
        .target(name: "Router", dependencies: ["LocoSupport"], exclude: ["README.md"]),
        // Benchmark sets, scorers and evaluation runs, speed and memory probes.
        .target(
            name: "Evaluation", dependencies: ["Inference", "Adapters", "Tensor", "Quantization", "Tokenization", "GGUFFormat", "LocoSupport"],
            exclude: ["README.md"]
        ),
        .target(
            name: "LocoLLM",
            dependencies: [
                "LocoSupport", "GGUFFormat", "Quantization", "Tokenization", "Tensor", "Inference", "Adapters", "Training", "Router", "Evaluation",
            ],
            exclude: ["README.md"]
        ),
        // `loco serve`: Ollama and OpenAI APIs on Hummingbird 2 over one Engine, continuous batching
        // across requests, per-request adapters, `auto` routing, Prometheus metrics.
        .target(
            name: "LocoServer",
            dependencies: [
                "LocoLLM",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "loco",
            dependencies: [
                "LocoLLM",
                "LocoServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "gguf-inspect", dependencies: ["LocoLLM"], path: "Examples/gguf-inspect"),
        .executableTarget(name: "quantize", dependencies: ["LocoLLM"], path: "Examples/quantize"),
        .executableTarget(name: "tokenize", dependencies: ["LocoLLM"], path: "Examples/tokenize"),
        .executableTarget(name: "generate", dependencies: ["LocoLLM"], path: "Examples/generate"),
        .executableTarget(name: "route", dependencies: ["LocoLLM"], path: "Examples/route"),
        .executableTarget(name: "evaluate", dependencies: ["LocoLLM"], path: "Examples/evaluate"),
        // Row-kernel throughput; CKernels is internal, so this benchmark lives in this package.
        .executableTarget(name: "kernel-benchmark", dependencies: ["CKernels"], path: "Benchmarks/Sources/kernel-benchmark"),
        // Encode throughput; it also times the pre-tokenizer alone, through package-level access.
        .executableTarget(name: "tokenize-benchmark", dependencies: ["Tokenization", "GGUFFormat"], path: "Benchmarks/Sources/tokenize-benchmark"),

        // Test helpers only tests import: repository paths, fixtures, running the Python peers.
        .target(name: "LocoTestSupport", dependencies: ["LocoLLM"], path: "Tests/LocoTestSupport"),
        .testTarget(
            name: "GGUFFormatTests",
            dependencies: ["GGUFFormat", "LocoTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "QuantizationTests",
            dependencies: ["Quantization", "CKernels", "LocoTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "LocoLLMTests", dependencies: ["LocoLLM", "LocoTestSupport", "loco", "gguf-inspect", "quantize"]),
        .testTarget(name: "LocoServerTests", dependencies: ["LocoServer", "LocoTestSupport", "loco"]),
        .testTarget(name: "CBLASTests", dependencies: ["CBLAS", "CKernels"]),
        .testTarget(
            name: "TokenizationTests",
            dependencies: ["Tokenization", "LocoTestSupport", "loco", "tokenize"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "Quantization", "CKernels", "LocoTestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Tensor", "Quantization", "LocoTestSupport"]),
        .testTarget(name: "LocoSupportTests", dependencies: ["LocoSupport", "LocoTestSupport"]),
        .testTarget(name: "RouterTests", dependencies: ["Router", "LocoSupport"]),
        .testTarget(name: "AdaptersTests", dependencies: ["Adapters", "LocoTestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Adapters", "LocoTestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "LocoTestSupport"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
