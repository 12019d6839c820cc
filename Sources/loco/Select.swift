import ArgumentParser
import Foundation
import LocoLLM

struct Select: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Choose a base model: hard requirements, the base suite, a quick adapter on each candidate, and the laptop probe; a ranked report.",
        discussion: """
            Each candidate is a GGUF file or a name in the model store (--chat-turns sets the probe's long conversation); PATH@FAMILY names the chat template \
            family for a base model whose file has none (e.g. gemma-3-270m-q4_k_m.gguf@gemma3). The hard \
            requirements come from the files: the licence (general.license) against --licenses, a chat \
            template, and the memory needed at --context tokens (weights, KV cache, one adapter, the runtime) \
            against --available-gb of a --laptop-gb laptop. Every suite is scored on the bare model; with \
            --train-data the same quick adapter is trained on each (rank 8, attention, --steps steps) and the \
            suites scored again. DIR/selection.json and DIR/selection.md are written at the end; suite runs \
            are resumable in DIR/.
            """)

    @Option(help: "Candidate models, comma-separated: PATH or store name, optionally @FAMILY (a chat template family).")
    var candidates: String

    @Option(name: .customLong("suite"), parsing: .singleValue, help: "A suite (JSONL); repeatable.")
    var suites: [String] = []

    @Option(help: "Chat JSONL for the quick adapter (none: no adapters are trained).")
    var trainData: String?

    @Option(help: "Optimizer steps of the quick adapter.")
    var steps = 30

    @Option(help: "The loss whose first step at or below it is reported as the quick adapter's steps to target.")
    var targetLoss = 1.0

    @Option(help: "The folder for the runs, the adapters, selection.json and selection.md.")
    var out: String

    @Option(help: "Context the memory estimate plans for.")
    var context = 4096

    @Option(help: "The laptop's memory in GiB.")
    var laptopGb = 8.0

    @Option(help: "GiB of it a model may use (the rest: the system and other programs).")
    var availableGb = 5.0

    @Option(help: "Turns of the probe's long conversation, whose memory drift is reported.")
    var chatTurns = 50

    @Option(help: "Accepted licences, comma-separated (general.license).")
    var licenses = BaseModelSelection.defaultLicenses.joined(separator: ",")

    @Option(help: "Tokens to generate at most per item.")
    var maxTokens = 128

    @Option(help: "Generation items decoded together.")
    var batch = 16

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "Watts one busy core draws, for the energy estimate where RAPL cannot be read.")
    var wattsPerCore = EnergyMeter.defaultWattsPerCore

    @OptionGroup var probe: ProbeArguments

    @OptionGroup var sharding: ShardArguments

    @Flag(help: "Print selection.json's object instead of the report.")
    var json = false

    func validate() throws {
        guard !candidates.split(separator: ",").isEmpty else { throw ValidationError("--candidates names no model") }
        guard steps >= 1, context >= 1, chatTurns >= 0, maxTokens >= 1, batch >= 1, wattsPerCore > 0, laptopGb > 0, availableGb > 0 else {
            throw ValidationError("--steps, --context, --max-tokens, --batch, --watts-per-core, --laptop-gb and --available-gb must be positive")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        do {
            let store = ModelStore()
            let list = try candidates.split(separator: ",").map { entry -> BaseModelSelection.Candidate in
                let parts = entry.split(separator: "@", maxSplits: 1).map(String.init)
                if parts.count == 2 { _ = try ChatTemplate(named: parts[1]) }  // a wrong family fails now, not after an hour
                return .init(path: try store.resolve(parts[0]), chatTemplate: parts.count == 2 ? parts[1] : nil)
            }
            var configuration = BaseModelSelection.Configuration(candidates: list)
            configuration.suites = try suites.map { try EvaluationSuite(contentsOf: $0) }
            configuration.context = context
            configuration.laptopBytes = Int(laptopGb * Double(1 << 30))
            configuration.availableBytes = Int(availableGb * Double(1 << 30))
            configuration.licenses = licenses.split(separator: ",").map(String.init)
            configuration.maxTokens = maxTokens
            configuration.batch = batch
            configuration.threads = threads
            configuration.targetLoss = targetLoss
            configuration.wattsPerCore = wattsPerCore
            configuration.chatTurns = chatTurns
            configuration.probe = { path, probe in try Self.benchInChildProcess(path, probe) }
            configuration.shard = try sharding.shard(out: out)
            (configuration.probePromptTokens, configuration.probeGenTokens, configuration.probeRepetitions)
                = (probe.probePromptTokens, probe.probeGenTokens, probe.probeRepetitions)
            let pool = ComputePool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            let trainer = trainData.map { SelectionTrainer(data: $0, targetLoss: targetLoss, steps: steps, pool: pool) }
            let report = try BaseModelSelection(configuration).run(folder: out, trainer: trainer) { line in
                FileHandle.standardError.write(Data("loco: \(line)\n".utf8))
            }
            print(json ? try report.jsonText() : report.markdown(), terminator: json ? "\n" : "")
        } catch {
            throw fail(error)
        }
    }

    /// `loco bench --json` on `path` in a child process (this executable), so the peak memory
    /// is that model's alone.
    static func benchInChildProcess(_ path: String, _ probe: SpeedProbe.Configuration) throws -> BenchResult {
        let process = Process()
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["bench", "--json", "--model", path, "--prompt-tokens", "\(probe.promptTokens)", "--gen-tokens", "\(probe.genTokens)",
                             "--repetitions", "\(probe.repetitions)", "--chat-turns", "\(probe.chatTurns)"] + (probe.threads.map { ["--threads", "\($0)"] } ?? [])
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("loco bench on \(path) failed: \(String(decoding: message, as: UTF8.self))")
        }
        return try JSONDecoder().decode(BenchResult.self, from: data)
    }
}
