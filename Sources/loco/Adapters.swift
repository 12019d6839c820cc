import ArgumentParser
import Foundation
import LocoLLM

/// `--adapter NAME|PATH` (repeatable: a path that exists, else a name in the adapter registry)
/// and `--adapter-scale S` (repeatable, the i-th for the i-th
/// adapter, 1 when left out), shared by the commands that run a model.
struct AdapterArguments: ParsableArguments {
    @Option(name: .customLong("adapter"), parsing: .singleValue,
            help: "A LoRA adapter to apply unmerged: a GGUF LoRA file, a PEFT folder, or a name in the adapter registry (repeatable). With run and chat, 'auto': the router picks one of the registry's adapters (or none) for each prompt.")
    var paths: [String] = []

    @Option(name: .customLong("adapter-scale"), parsing: .singleValue,
            help: "The user scale of the adapter in the same position (default 1); the delta is scale * alpha / rank * B A x.")
    var scales: [Float] = []

    func validate() throws {
        guard scales.count <= paths.count else { throw ValidationError("more --adapter-scale values than --adapter paths") }
        if paths.contains(Self.auto) {
            guard paths.count == 1, scales.isEmpty else { throw ValidationError("--adapter auto takes no other adapter and no scale") }
        }
    }

    /// `--adapter auto`: a router picks the adapter (or none) from the registry's routes.
    static let auto = "auto"

    var isAuto: Bool { paths == [Self.auto] }

    /// For the commands that measure or compare a fixed set of adapters.
    func refuseAuto(_ command: String) throws {
        if isAuto { throw ValidationError("--adapter auto routes run, chat and ask; \(command) needs the adapters named") }
    }

    /// Each adapter's name or path with its scale, for `Engine.adapters(_:)`.
    var specs: [(String, Float)] {
        paths.enumerated().map { index, path in (path, index < scales.count ? scales[index] : 1) }
    }
}

/// Says on standard error which adapter answers and why.
func announce(_ decision: RouteDecision) {
    let line = "loco: \(decision.route.map { "adapter \($0)" } ?? "the base model") answers "
        + "(confidence \(String(format: "%.2f", decision.confidence))): \(decision.reason)\n"
    FileHandle.standardError.write(Data(line.utf8))
}
