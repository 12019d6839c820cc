import ArgumentParser
import Foundation
import LocoLLM

/// `--adapter NAME|PATH` (repeatable: a path that exists, else a name in the adapter registry)
/// and `--adapter-scale S` (repeatable, the i-th for the i-th
/// adapter, 1 when left out), shared by the commands that run a model.
struct AdapterArguments: ParsableArguments {
    @Option(name: .customLong("adapter"), parsing: .singleValue,
            help: "A LoRA adapter to apply unmerged: a GGUF LoRA file, a PEFT folder, or a name in the adapter registry (repeatable).")
    var paths: [String] = []

    @Option(name: .customLong("adapter-scale"), parsing: .singleValue,
            help: "The user scale of the adapter in the same position (default 1); the delta is scale * alpha / rank * B A x.")
    var scales: [Float] = []

    func validate() throws {
        guard scales.count <= paths.count else { throw ValidationError("more --adapter-scale values than --adapter paths") }
    }

    /// Each adapter's name or path with its scale, for `Engine.adapters(_:)`.
    var specs: [(String, Float)] {
        paths.enumerated().map { index, path in (path, index < scales.count ? scales[index] : 1) }
    }
}
