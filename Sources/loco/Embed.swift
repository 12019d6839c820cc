import ArgumentParser
import Foundation
import LocoLLM

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the embedding of a text: the mean of its final hidden states.",
        discussion: """
            The tokens run through the model's layers from an empty cache; the embedding is the \
            mean over positions of the hidden states after the output norm (llama.cpp's MEAN \
            pooling), one value per embedding dimension. No logits are computed. --prompt is \
            tokenized as llama.cpp's embed does: BOS added when the model asks for it, text that \
            looks like a control token left as text. The vector goes to standard output, one value \
            per line (or a JSON array with --json); the token count and time go to standard error.
            """
    )

    @Option(help: "The GGUF model file, or a model name in the model store. Default: the default model.")
    var model: String?

    @Option(help: "Text to tokenize and embed.")
    var prompt: String?

    @Option(help: "Comma-separated token ids, e.g. 1,2,3.")
    var tokens: String?

    @Flag(help: "Scale the vector to unit Euclidean length.")
    var normalize = false

    @Flag(help: "Print a JSON array instead of one value per line.")
    var json = false

    @Option(help: "fast, or llama-cpp (llama.cpp's float order).")
    var numerics: String = "fast"

    @Option(help: "Threads to use (default: all cores).")
    var threads: Int?

    private var numericsMode: Numerics? { Numerics(flagName: numerics) }

    func validate() throws {
        guard (tokens == nil) != (prompt == nil) else { throw ValidationError("give exactly one of --prompt and --tokens") }
        guard numericsMode != nil else { throw ValidationError("--numerics must be fast or llama-cpp") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        do {
            let path = try ModelStore().resolve(model)
            let file = try GGUFFile(contentsOf: path)
            let ids: [Int]
            if let prompt {
                ids = try Tokenizer(gguf: file).encode(prompt, addSpecial: true, parseSpecial: false).map(Int.init)
            } else {
                ids = try parseTokenList(tokens!)
            }
            guard !ids.isEmpty else { throw ValidationError("the input has no tokens") }
            let loaded = try Model(file: file)
            let pool = threads.map { ComputePool(threads: $0) } ?? .shared
            // One pass: an F32 cache costs nothing here and keeps keys and values exact.
            let session = loaded.makeSession(cachePrecision: .f32, numerics: numericsMode!, pool: pool)
            let start = Date()
            let vector = try session.embedding(tokens: ids, normalized: normalize)
            let seconds = Date().timeIntervalSince(start)
            let values = vector.map { "\($0)" }
            let text = json ? "[" + values.joined(separator: ",") + "]\n" : values.joined(separator: "\n") + "\n"
            FileHandle.standardOutput.write(Data(text.utf8))
            FileHandle.standardError.write(Data(String(
                format: "%d tokens -> %d values (%.1f tokens/s)\n", ids.count, vector.count, Double(ids.count) / seconds).utf8))
        } catch let error as ValidationError {
            throw fail(error.message)
        } catch {
            throw fail(error)
        }
    }
}

/// The ids of a comma-separated list such as `1,2,3` (`--tokens`).
func parseTokenList(_ text: String) throws -> [Int] {
    try text.split(separator: ",").map { part in
        guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("--tokens: '\(part)' is not a token id")
        }
        return id
    }
}
