import Inference
import LocoSupport

extension LoRAAdapter {
    /// The adapter with the B rows of every `attn_q` (`heads` heads) and `attn_k` (`kvHeads`
    /// heads) target in `order`; the rest unchanged. A no-op when already in that order.
    ///
    /// Within a head of `d` rows, GGUF row `2i + j` is Hugging Face row `j * d/2 + i`
    /// (`j` in 0, 1), as llama.cpp's `permute` moves them.
    public func reordered(to order: RowOrder, heads: Int, kvHeads: Int) throws -> LoRAAdapter {
        guard order != metadata.rowOrder else { return self }
        var weights = self.weights
        for target in targets {
            let parts = target.split(separator: ".")
            guard parts.count == 4, parts[0] == "blk", parts[2] == "attn_q" || parts[2] == "attn_k" else { continue }
            let groups = parts[2] == "attn_q" ? heads : kvHeads
            let pair = weights[target]!
            let b = pair.b
            guard groups > 0, b.rows % (2 * groups) == 0 else {
                throw LoRAError(.shapeMismatch(target: target, a: pair.a.shape, b: b.shape, expected: [b.columns, 2 * groups],
                                               base: [b.columns, b.rows]), path: metadata.path)
            }
            let d = b.rows / groups, half = d / 2
            var values = [Float](repeating: 0, count: b.values.count)
            for h in 0..<groups {
                for i in 0..<half {
                    for j in 0..<2 {
                        let gguf = h * d + 2 * i + j, hf = h * d + j * half + i
                        let (from, to) = order == .gguf ? (hf, gguf) : (gguf, hf)
                        for c in 0..<b.columns { values[to * b.columns + c] = b.values[from * b.columns + c] }
                    }
                }
            }
            weights[target] = LoRAWeights(a: pair.a, b: LoRAMatrix(rows: b.rows, columns: b.columns, values: values))
        }
        var metadata = self.metadata
        metadata.rowOrder = order
        return try LoRAAdapter(weights: weights, alpha: alpha, scaling: scaling, metadata: metadata)
    }

    /// The adapter in the row order `configuration`'s tensors use: for a llama base, a PEFT
    /// adapter's query/key B rows are permuted as llama.cpp's converter permutes them; any other
    /// base takes the rows as they are.
    public func inGGUFOrder(for configuration: ModelConfiguration) throws -> LoRAAdapter {
        guard configuration.architecture == .llama else {
            var copy = self
            copy.metadata.rowOrder = .gguf
            return copy
        }
        return try reordered(to: .gguf, heads: configuration.headCount, kvHeads: configuration.kvHeadCount)
    }

    /// The first target whose rows converting between the two row orders would move: a query
    /// or key target of a llama adapter (as far as its metadata says), or nil.
    var firstPermutedTarget: String? {
        guard (metadata.baseArchitecture ?? "llama") == "llama" else { return nil }
        return targets.first { $0.hasSuffix(".attn_q.weight") || $0.hasSuffix(".attn_k.weight") }
    }
}
