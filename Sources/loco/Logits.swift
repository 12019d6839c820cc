import ArgumentParser
import Foundation
import LocoLLM

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Run a prompt or tokens through a model and write the logits of every position.",
        discussion: """
            The output is float32 little-endian, one row of vocabulary-size values per position \
            (rows = positions), written atomically. The input runs as one batched prefill from an \
            empty cache (or, with --decode, one token at a time), as llama.cpp's logits_all \
            output for the same tokens does. --prompt is tokenized with the model's own \
            tokenizer (BOS added when the model asks for it, control tokens such as \
            <|im_start|> recognized); the ids go to standard error.

            --numerics llama-cpp orders the float work as llama.cpp's CPU backend does: logits \
            are then bit-identical with llama.cpp's for Q8_0, Q4_1, Q5_0 and Q5_1 weights \
            (slower; see Documentation/Inference.md).
            """
    )

    @Option(help: "The GGUF model file, or a model name in the model store. Default: the default model.")
    var model: String?

    @Option(help: "Comma-separated token ids, e.g. 1,2,3.")
    var tokens: String?

    @Option(help: "Text to tokenize and run.")
    var prompt: String?

    @Option(help: "Where to write the logits.")
    var out: String

    @Option(help: "KV cache precision: f32 (default: the cache of llama.cpp's parity settings) or f16.")
    var kvCache: String = "f32"

    @Option(help: "Threads to use (default: all cores).")
    var threads: Int?

    @Option(help: "fast, or llama-cpp (llama.cpp's float order).")
    var numerics: String = "fast"

    @OptionGroup var adapters: AdapterArguments

    @Flag(help: "Run the tokens one at a time (decode steps) instead of one batched prefill.")
    var decode = false

    private var numericsMode: Numerics? { Numerics(flagName: numerics) }

    func validate() throws {
        try adapters.refuseAuto("logits")
        guard (tokens == nil) != (prompt == nil) else { throw ValidationError("give exactly one of --tokens and --prompt") }
        guard KVCache.Precision(rawValue: kvCache) != nil else { throw ValidationError("--kv-cache must be f32 or f16") }
        guard numericsMode != nil else { throw ValidationError("--numerics must be fast or llama-cpp") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        do {
            let path = try ModelStore().resolve(model)
            let file = try GGUFFile(contentsOf: path)
            let ids: [Int]
            if let prompt {
                ids = try Tokenizer(gguf: file).encode(prompt, addSpecial: true, parseSpecial: true).map(Int.init)
                FileHandle.standardError.write(Data("tokens: \(ids.map(String.init).joined(separator: ","))\n".utf8))
            } else {
                ids = try parseTokenList(tokens!)
            }
            guard !ids.isEmpty else { throw ValidationError("the input has no tokens") }
            let loaded = try Model(file: file)
            let pool = threads.map { ComputePool(threads: $0) } ?? .shared
            let session = loaded.makeSession(cachePrecision: KVCache.Precision(rawValue: kvCache)!, numerics: numericsMode!, pool: pool)
            session.adapters = try AdapterRegistry().adapterSet(adapters.specs, for: loaded)
            let start = Date()
            var values: [Float] = []
            if decode {
                values.reserveCapacity(ids.count * loaded.vocabularySize)
                for id in ids { values += try session.decode(id) }
            } else {
                values = try session.forward(tokens: ids).values
            }
            let seconds = Date().timeIntervalSince(start)
            try values.withUnsafeBytes { try AtomicFile.write(Array($0), to: out) }
            FileHandle.standardError.write(Data(String(
                format: "%d positions x %d logits -> %@ (%.1f tokens/s)\n", ids.count, loaded.vocabularySize,
                out as NSString, Double(ids.count) / seconds).utf8))
        } catch let error as ValidationError {
            throw fail(error.message)
        } catch {
            throw fail(error)
        }
    }
}
