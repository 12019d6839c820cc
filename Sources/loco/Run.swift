import ArgumentParser
import Foundation
import LocoLLM

/// Options shared by `loco run` and `loco chat`.
struct GenerationArguments: ParsableArguments {
    @Option(help: "The GGUF model, or a name in the model store. Default: the default model.")
    var model: String?

    @Option(help: ArgumentHelp(chatTemplateHelp, valueName: "name"))
    var chatTemplate: String?

    @Option(help: "Tokens to generate at most.")
    var maxTokens = 256

    @Option(help: "Sampling temperature; 0 is greedy (the penalties still apply; --greedy turns them off).")
    var temperature: Float = 0.7

    @Option(help: "Top-k (0: off).")
    var topK = 40

    @Option(help: "Top-p (1: off).")
    var topP: Float = 0.95

    @Option(help: "Min-p (0: off).")
    var minP: Float = 0.05

    @Option(help: "Repetition penalty (1: off).")
    var repeatPenalty: Float = 1.1

    @Option(help: "Presence penalty (0: off).")
    var presencePenalty: Float = 0

    @Option(help: "Random seed (the same seed gives the same text).")
    var seed: UInt64 = 0

    @Option(parsing: .singleValue, help: "Stop before this string (repeatable).")
    var stop: [String] = []

    @Option(help: "Context length (default: the model's, at most 4096).")
    var context: Int?

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "System message for the chat template.")
    var system: String?

    @OptionGroup var adapters: AdapterArguments

    @Flag(help: "Always take the most likely token: temperature 0, no penalties (overrides the sampling options).")
    var greedy = false

    @Option(help: "fast, or llama-cpp (llama.cpp's float order: slower, for comparing with llama.cpp).")
    var numerics: String = "fast"

    private var numericsMode: Numerics? { Numerics(flagName: numerics) }

    func validate() throws {
        guard numericsMode != nil else { throw ValidationError("--numerics must be fast or llama-cpp") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    var options: GenerationOptions {
        GenerationOptions(
            maxTokens: maxTokens,
            sampler: greedy ? .greedy : SamplerSettings(temperature: temperature, topK: topK, topP: topP, minP: minP,
                                                        repetitionPenalty: repeatPenalty, presencePenalty: presencePenalty, seed: seed),
            stopStrings: stop)
    }

    /// The model loaded once, with sessions of `--context` positions on `--threads` threads.
    func makeEngine() throws -> Engine {
        try Engine(model: model, threads: threads, contextLength: context, numerics: numericsMode ?? .fast, chatTemplate: chatTemplate)
    }
}

/// Prints a statistics line to standard error.
func printStatistics(_ s: GenerationStatistics) {
    let line = "[\(s.promptTokens) prompt tokens (\(s.reusedPromptTokens) cached), \(s.generatedTokens) generated; "
        + "first token \(ByteFormat.fixed(s.timeToFirstToken * 1000, 0)) ms, prefill \(ByteFormat.fixed(s.prefillTokensPerSecond, 1)) tok/s, "
        + "decode \(ByteFormat.fixed(s.decodeTokensPerSecond, 1)) tok/s; stop: \(s.stopReason.rawValue)]\n"
    FileHandle.standardError.write(Data(line.utf8))
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a reply to one prompt, streaming it to standard output.",
        discussion: "The prompt is put in the model's chat template as a user turn unless --raw is given. A statistics line goes to standard error."
    )

    @Argument(help: "The prompt.")
    var prompt: String

    @Flag(help: "Use the prompt as it is, without the chat template.")
    var raw = false

    /// For the parity tests: the prompt's token ids and the generated ones as JSON on standard
    /// output, instead of the text.
    @Flag(help: ArgumentHelp("Print {\"prompt\": [ids], \"generated\": [ids]} instead of the text.", visibility: .hidden))
    var jsonTokens = false

    @OptionGroup var generation: GenerationArguments

    func run() throws {
        do {
            let engine = try generation.makeEngine()
            let tokens = raw
                ? engine.prompt(raw: prompt)
                : try engine.prompt(messages: (generation.system.map { [.system($0)] } ?? []) + [.user(prompt)])
            var specs = generation.adapters.specs
            if generation.adapters.isAuto {
                let decision = try engine.automaticRouter().route(prompt)
                announce(decision)
                specs = decision.route.map { [($0, Float(1))] } ?? []
            }
            let generator = engine.makeGenerator(adapters: try engine.adapters(specs))
            let statistics = try generator.generate(prompt: tokens, options: generation.options) { piece in
                if !jsonTokens { FileHandle.standardOutput.write(Data(piece.utf8)) }
            }
            // Written unbuffered, like the text, so the statistics line on standard error follows it.
            if jsonTokens {
                let list = { (ids: [Int32]) in "[" + ids.map(String.init).joined(separator: ",") + "]" }
                FileHandle.standardOutput.write(Data("{\"prompt\": \(list(tokens)), \"generated\": \(list(generator.lastGeneration))}\n".utf8))
            } else {
                FileHandle.standardOutput.write(Data("\n".utf8))
            }
            printStatistics(statistics)
        } catch let error as EngineError {
            if case .noChatTemplate = error.kind { throw fail("\(error); use --raw") }
            throw fail(error)
        } catch {
            throw fail(error)
        }
    }
}
