import GGUFFormat
import Inference
import LocoSupport

extension LoRAAdapter {
    /// Checks that the adapter fits `model` (its GGUF file), as `validate(against:)` does for a `GGUFFile`.
    public func validate(against model: Model) throws(LoRAError) {
        try validate(against: model.file)
    }

    /// Checks that the adapter fits the base model in `base`: the same `general.architecture`
    /// (PEFT adapters record none, so this is skipped for them), every target a tensor of the
    /// base, and every pair's shapes those of its tensor: a linear layer of ggml shape
    /// `[n_in, n_out]` needs A of `rank x n_in` and B of `n_out x rank`; the token embedding
    /// `[n_embd, n_vocab]` needs A of `rank x n_vocab` and B of `n_embd x rank`.
    public func validate(against base: GGUFFile) throws(LoRAError) {
        func failure(_ kind: LoRAError.Kind) -> LoRAError { LoRAError(kind, path: metadata.path) }
        if let architecture = metadata.baseArchitecture, architecture != base.architecture {
            throw failure(.architectureMismatch(adapter: architecture, base: base.architecture))
        }
        for target in targets {
            let pair = weights[target]!
            guard let tensor = base.tensor(named: target) else {
                let tied = target == TargetNames.output && base.tensor(named: TargetNames.tokenEmbedding) != nil
                throw failure(.targetNotInBase(target: target, hint: tied ? "the base ties its output layer to token_embd.weight" : nil))
            }
            let expected = TargetNames.isEmbedding(target)
                ? [pair.outputWidth, pair.inputWidth]
                : [pair.inputWidth, pair.outputWidth]
            let shape = tensor.shape
            let matrix = shape.count >= 2 && shape[2...].allSatisfy { $0 == 1 } ? Array(shape[0..<2]) : shape
            guard matrix == expected else {
                throw failure(.shapeMismatch(target: target, a: pair.a.shape, b: pair.b.shape, expected: expected, base: shape))
            }
        }
    }
}
