import Inference
import LocoSupport

extension AdapterSet {
    /// The deltas of `adapters`, each with its user scale (`scale * alpha / r`, see
    /// ``LoRAAdapter/scale(userScale:)``), for `model`, after checking each adapter against it.
    /// Several adapters on one projection add up, as llama.cpp's several `--lora` do.
    ///
    /// A token-embedding delta adds to the looked-up rows, as llama.cpp applies it.
    ///
    /// ```swift
    /// let model = try Model(contentsOf: base)
    /// let session = model.makeSession()
    /// session.adapters = try AdapterSet(model: model, adapters: [(try LoRAAdapter(contentsOf: path), 1)])
    /// ```
    public convenience init(model: Model, adapters: [(LoRAAdapter, Float)]) throws {
        var placements: [Placement] = []
        for (file, userScale) in adapters {
            try file.validate(against: model)
            let adapter = try file.inGGUFOrder(for: model.configuration)
            let scale = adapter.scale(userScale: userScale)
            for target in adapter.targets {
                let pair = adapter.weights[target]!
                let (layer, kind) = try AdapterSet.placement(of: target, adapter: adapter)
                let delta = try Delta(a: pair.a.values, b: pair.b.values, rank: pair.rank, inputs: pair.inputWidth,
                                      outputs: pair.outputWidth, scale: scale)
                placements.append(Placement(layer: layer, target: kind, delta: delta))
            }
        }
        try self.init(model: model, placements: placements)
    }

    /// Block and projection of a GGUF tensor name (`blk.N.attn_q.weight`, `output.weight`).
    static func placement(of target: String, adapter: LoRAAdapter) throws -> (Int?, Target) {
        if target == TargetNames.output { return (nil, .output) }
        if target == TargetNames.tokenEmbedding { return (nil, .tokenEmbedding) }
        let parts = target.split(separator: ".")
        if parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), parts[3] == "weight",
           let kind = Target(rawValue: String(parts[2])), kind != .output {
            return (layer, kind)
        }
        throw LoRAError(.unexpectedTensor(tensor: target, reason: "the runtime applies deltas to attn_q, attn_k, attn_v, "
                                            + "attn_output, ffn_gate, ffn_up, ffn_down, output and token_embd; merge adapters on other tensors"),
                        path: adapter.metadata.path)
    }
}
