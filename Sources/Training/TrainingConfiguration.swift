import Inference
import Adapters
import LocoSupport

/// How a LoRA adapter is trained: the adapter's shape, the optimizer (AdamW), the schedule
/// (linear warm-up, then cosine decay to zero), batching and what is logged and saved. The
/// defaults are upstream LocoLLM's: rank 16, alpha 32 on the attention projections.
public struct TrainingConfiguration: Sendable, Equatable, Codable {
    public var rank = 16
    public var alpha: Float = 32
    /// PEFT's `lora_dropout`: dropout on each adapted projection's input to A.
    public var dropout: Float = 0.05
    /// GGUF names of the adapted projections: `attn_q`, `attn_k`, `attn_v`, `attn_output`,
    /// `ffn_gate`, `ffn_up`, `ffn_down`.
    public var targets: [String] = ["attn_q", "attn_k", "attn_v", "attn_output"]
    /// Passes over the training set, when ``steps`` is nil.
    public var epochs = 1
    /// Optimizer steps; overrides ``epochs``.
    public var steps: Int?
    public var learningRate: Float = 2e-4
    /// Steps of linear warm-up from 0 to the learning rate; nil: 5% of the steps (at least 1).
    public var warmupSteps: Int?
    public var weightDecay: Float = 0
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// The global gradient norm is clipped to this; 0 turns clipping off.
    public var maxGradientNorm: Float = 1
    /// Sequences per forward pass.
    public var batchSize = 4
    /// Forward passes whose gradients add up to one optimizer step.
    public var gradientAccumulation = 1
    /// Longer sequences are cut to this many tokens.
    public var maxSequenceLength = 512
    public var seed: UInt64 = 0
    /// Part of the data held out for the validation loss.
    public var validationFraction = 0.05
    /// Steps between validation losses (and the last step); 0: only at the end.
    public var evaluateEvery = 50
    /// Steps between checkpoints (and the last step); 0: only at the end.
    public var checkpointEvery = 50
    /// Recompute each block's activations in the backward instead of keeping them.
    public var gradientCheckpointing = false

    public init() {}

    /// The adapted projections as the runtime names them; throws on an unknown name.
    public func targetSet() throws -> Set<AdapterSet.Target> {
        try Set(targets.map { name in
            guard let target = AdapterSet.Target(rawValue: name), TrainableLoRA.trainableTargets.contains(target) else {
                throw TrainingError.invalidOption("unknown target module \"\(name)\"; choose from "
                    + TrainableLoRA.trainableTargets.map(\.rawValue).joined(separator: ", "))
            }
            return target
        })
    }

    /// Throws ``TrainingError/invalidOption(_:)`` naming the first setting out of range.
    public func validate() throws {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw TrainingError.invalidOption(message()) }
        }
        try check(rank > 0, "the rank must be positive, not \(rank)")
        try check(alpha.isFinite && alpha > 0, "alpha must be a positive number, not \(alpha)")
        try check(dropout >= 0 && dropout < 1, "the dropout must be in [0, 1), not \(dropout)")
        try check(epochs > 0, "the number of epochs must be positive, not \(epochs)")
        try check(steps.map { $0 > 0 } ?? true, "the number of steps must be positive, not \(steps ?? 0)")
        try check(learningRate.isFinite && learningRate > 0, "the learning rate must be positive, not \(learningRate)")
        try check(warmupSteps.map { $0 >= 0 } ?? true, "the warm-up steps cannot be negative")
        try check(weightDecay >= 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && epsilon > 0,
                  "AdamW needs weight decay >= 0, betas in [0, 1) and epsilon > 0")
        try check(maxGradientNorm >= 0, "the gradient clipping norm cannot be negative")
        try check(batchSize > 0, "the batch size must be positive, not \(batchSize)")
        try check(gradientAccumulation > 0, "the gradient accumulation must be positive, not \(gradientAccumulation)")
        try check(maxSequenceLength >= 2, "the maximum sequence length must be at least 2, not \(maxSequenceLength)")
        try check(validationFraction >= 0 && validationFraction < 1, "the validation fraction must be in [0, 1)")
        try check(evaluateEvery >= 0 && checkpointEvery >= 0, "evaluation and checkpoint intervals cannot be negative")
        _ = try targetSet()
    }
}
