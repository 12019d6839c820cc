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
    static func logits(model: String, tokens: [Int], sequential: Bool = false) throws -> [Float] {
        let out = RandomModels.scratch("peer-logits.f32")
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try script(["logits", model, "--tokens", tokens.map(String.init).joined(separator: ","), "--out", out]
                       + (sequential ? ["--sequential"] : []))
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
