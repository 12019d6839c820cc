import Foundation
import LocoTestSupport
import Testing

/// llama.cpp through `scripts/inference_peer.py`, and how far two sets of logits are apart.
enum LlamaCppPeer {
    static var available: Bool { Peers.pythonHas("llama_cpp") }

    static func script(_ arguments: [String]) throws -> CommandResult {
        let result = try run("python3", [Repository.path("scripts/inference_peer.py")] + arguments)
        try #require(result.status == 0, "inference_peer.py \(arguments.first ?? ""): \(result.stderr.suffix(2000))")
        return result
    }

    /// llama.cpp's logits for every position: one batch (its prefill) or one token at a time.
    /// With `lora`, llama.cpp applies that GGUF LoRA adapter at `loraScale` (its `--lora-scaled`).
    static func logits(model: String, tokens: [Int], sequential: Bool = false, lora: String? = nil, loraScale: Float = 1) throws -> [Float] {
        let out = RandomModels.scratch("peer-logits.f32")
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try script(["logits", model, "--tokens", tokens.map(String.init).joined(separator: ","), "--out", out]
                       + (sequential ? ["--sequential"] : []) + (lora.map { ["--lora", $0, "--lora-scale", "\(loraScale)"] } ?? []))
        return try readFloats(out)
    }

    /// The model's own tokenization of `text` (llama.cpp's tokenizer), at most `limit` tokens.
    static func tokenize(model: String, text: String, limit: Int) throws -> [Int] {
        let file = RandomModels.scratch("text.txt")
        defer { try? FileManager.default.removeItem(atPath: file) }
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try script(["tokenize", model, file, "--limit", "\(limit)"])
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map { Int($0)! }
    }

    /// llama.cpp's MEAN-pooled embedding of `tokens` (one batch), or with `sequential` its own
    /// other float order: one token per decode, the per-token vectors averaged.
    static func embedding(model: String, tokens: [Int], sequential: Bool = false) throws -> [Float] {
        let result = try script(["embed", model, "--tokens", tokens.map(String.init).joined(separator: ",")]
                                + (sequential ? ["--sequential"] : []))
        return try decodeFloats(result.stdout)
    }

    /// `Llama.embed(text, normalize:)` itself: llama.cpp's tokenization and MEAN pooling.
    static func embedding(model: String, text: String, normalize: Bool) throws -> [Float] {
        let file = RandomModels.scratch("embed.txt")
        defer { try? FileManager.default.removeItem(atPath: file) }
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return try decodeFloats(script(["embed", model, "--text-file", file] + (normalize ? ["--normalize"] : [])).stdout)
    }

    /// llama.cpp's greedy tokens after `tokens` (prompt in one batch, then one token at a time,
    /// stopping after an end-of-generation token), with the two best logits of every step.
    static func greedy(model: String, tokens: [Int], maxTokens: Int) throws -> GreedyRun {
        let result = try script(["generate", model, "--tokens", tokens.map(String.init).joined(separator: ","),
                                 "--max-tokens", "\(maxTokens)"])
        return try JSONDecoder().decode(GreedyRun.self, from: result.stdout)
    }

    struct GreedyRun: Decodable {
        var generated: [Int]
        /// Per step: best id, its logit, second id, its logit.
        var top2: [[Double]]
    }

    /// A JSON array of numbers as floats.
    static func decodeFloats(_ json: Data) throws -> [Float] {
        try JSONDecoder().decode([Double].self, from: json).map(Float.init)
    }

    static func readFloats(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

/// The distance of logits from a reference: largest absolute difference, that relative to the
/// largest reference logit, and the share of positions with the same most likely token.
struct LogitDistance: CustomStringConvertible {
    var maxAbsolute: Float
    var maxRelative: Float
    var argmaxAgreement: Double

    init(_ ours: [Float], _ reference: [Float], vocabulary: Int) {
        precondition(ours.count == reference.count && reference.count % vocabulary == 0)
        var maxAbsolute: Float = 0, maxLogit: Float = 0
        for (a, b) in zip(ours, reference) {
            maxAbsolute = max(maxAbsolute, abs(a - b))
            maxLogit = max(maxLogit, abs(b))
        }
        let positions = reference.count / vocabulary
        var same = 0
        for p in 0..<positions {
            let range = (p * vocabulary)..<((p + 1) * vocabulary)
            if Self.argmax(ours[range]) == Self.argmax(reference[range]) { same += 1 }
        }
        self.maxAbsolute = maxAbsolute
        self.maxRelative = maxAbsolute / max(maxLogit, .leastNormalMagnitude)
        self.argmaxAgreement = Double(same) / Double(positions)
    }

    static func argmax(_ row: ArraySlice<Float>) -> Int {
        var best = row.startIndex
        for i in row.indices where row[i] > row[best] { best = i }
        return best
    }

    var description: String {
        String(format: "max |diff| %.3g (%.2g of the largest logit), same argmax on %.1f%%", maxAbsolute, maxRelative, argmaxAgreement * 100)
    }
}

/// The distance of a vector from a reference: largest absolute difference, that relative to the
/// largest reference value, and the cosine similarity (in double).
struct VectorDistance: CustomStringConvertible {
    var maxAbsolute: Float
    var maxRelative: Float
    var cosine: Double

    init(_ ours: [Float], _ reference: [Float]) {
        precondition(ours.count == reference.count && !reference.isEmpty)
        var maxAbsolute: Float = 0, maxValue: Float = 0
        var dot = 0.0, ourNorm = 0.0, referenceNorm = 0.0
        for (a, b) in zip(ours, reference) {
            maxAbsolute = max(maxAbsolute, abs(a - b))
            maxValue = max(maxValue, abs(b))
            dot += Double(a) * Double(b)
            ourNorm += Double(a) * Double(a)
            referenceNorm += Double(b) * Double(b)
        }
        self.maxAbsolute = maxAbsolute
        self.maxRelative = maxAbsolute / max(maxValue, .leastNormalMagnitude)
        self.cosine = dot / max((ourNorm * referenceNorm).squareRoot(), .leastNormalMagnitude)
    }

    var description: String {
        String(format: "max |diff| %.3g (%.2g of the largest value), cosine 1 - %.2g", maxAbsolute, maxRelative, 1 - cosine)
    }
}
