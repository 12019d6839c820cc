import ArgumentParser
import Foundation
import LocoLLM

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Run tokens through a model and write the logits of every position.",
        discussion: """
            The output is float32 little-endian, one row of vocabulary-size values per position \
            (rows = positions), written atomically. The input runs as one batched prefill from an \
            empty cache (or, with --decode, one token at a time), as llama.cpp's logits_all \
            output for the same tokens does.
            """
    )

    @Option(help: "The GGUF model file, or a model name in the model store. Default: the default model.")
    var model: String?

    @Option(help: "Comma-separated token ids, e.g. 1,2,3.")
    var tokens: String

    @Option(help: "Where to write the logits.")
    var out: String

    @Option(help: "KV cache precision: f32 or f16.")
    var kvCache: String = "f32"

    @Option(help: "Threads to use (default: all cores).")
    var threads: Int?

    @Option(help: "fast, or llama-cpp: llama.cpp's float order (bit-identical logits where reproduced, slower).")
    var numerics: String = "fast"

    @Flag(help: "Run the tokens one at a time (decode steps) instead of one batched prefill.")
    var decode = false

    private var numericsMode: Numerics? {
        switch numerics {
        case "fast": .fast
        case "llama-cpp": .llamaCpp
        default: nil
        }
    }

    func validate() throws {
        guard KVCache.Precision(rawValue: kvCache) != nil else { throw ValidationError("--kv-cache must be f32 or f16") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard numericsMode != nil else { throw ValidationError("--numerics must be fast or llama-cpp") }
    }

    func run() throws {
        do {
            let ids = try tokens.split(separator: ",").map { part -> Int in
                guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--tokens: '\(part)' is not a token id")
                }
                return id
            }
            guard !ids.isEmpty else { throw ValidationError("--tokens is empty") }
            let path = try ModelStore().resolve(model)
            let loaded = try Model(contentsOf: path)
            let pool = threads.map { ComputePool(threads: $0) } ?? .shared
            let session = loaded.makeSession(cachePrecision: KVCache.Precision(rawValue: kvCache)!, numerics: numericsMode!, pool: pool)
            let start = Date()
            let logits: Inference.Logits
            if decode {
                var values: [Float] = []
                values.reserveCapacity(ids.count * loaded.vocabularySize)
                for id in ids { values += try session.decode(id) }
                logits = Inference.Logits(positions: ids.count, vocabularySize: loaded.vocabularySize, values: values)
            } else {
                logits = try session.forward(tokens: ids)
            }
            let seconds = Date().timeIntervalSince(start)
            let data = logits.values.withUnsafeBufferPointer { Data(buffer: $0) }
            try data.write(to: URL(fileURLWithPath: out), options: .atomic)
            FileHandle.standardError.write(Data(String(
                format: "%d positions x %d logits -> %@ (%.1f tokens/s)\n", logits.positions, logits.vocabularySize,
                out as NSString, Double(ids.count) / seconds).utf8))
        } catch let error as ValidationError {
            throw fail(error.message)
        } catch {
            throw fail(error)
        }
    }
}
