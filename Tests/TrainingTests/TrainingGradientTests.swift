import Foundation
import GGUFFormat
import LocoTestSupport
import Testing
@testable import Training
import Inference
import LocoSupport

/// The LoRA gradients of ``TrainingGraph`` against central finite differences of its own loss,
/// on tiny llama and qwen3 models, a random gemma3 one (post-norms, GeGLU, sliding windows
/// shorter than an example, scaled embeddings, two RoPE bases) (Q8_0 matrices: the frozen base is dequantized, so the check
/// covers the quantized path) and the random F32 models of the parity tests, with every target
/// adapted, GQA, two packed sequences and partial loss masks.
///
/// Tolerance: the loss is a float32 computation of a few hundred summed terms; a central
/// difference with step h has rounding noise of about `|L| * 1e-7 / h` and truncation error
/// `O(h^2)`. Along random unit directions of all parameters, with h = 1e-2, the difference and the
/// analytic `g . d` agreed to within 7.3e-6 of `|g|` (the largest `g . d` can be) on these models;
/// the test allows 1e-4 of `|g|`. Then every slot alone: the largest entry of its A and of its B
/// against its own difference, within 1e-2 of the entry plus 1e-4. A wrong sign, a missing term
/// or a transposed factor in any backward moves these by far more, so the check can fail.
@Suite struct TrainingGradientTests {
    static func examples(vocabulary: Int) -> [TrainingGraph.Example] {
        var state: UInt64 = 11
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33) % bound
        }
        let first = (0..<9).map { _ in next(vocabulary) }, second = (0..<6).map { _ in next(vocabulary) }
        return [
            TrainingGraph.Example(tokens: first, trained: [false, false, true, true, false, true, true, true, false]),
            TrainingGraph.Example(tokens: second, trained: [false, true, true, false, true, true]),
        ]
    }

    /// An adapter with random A and B (B nonzero, unlike a fresh one, so A has gradients too).
    static func randomLoRA(_ model: Model, targets: Set<AdapterSet.Target>, seed: UInt64) throws -> TrainableLoRA {
        var lora = try TrainableLoRA(model: model, targets: targets, rank: 3, alpha: 6, seed: seed)
        var random = SplitMix64(seed: seed &+ 99)
        for slot in lora.slots {
            for i in slot.bOffset..<(slot.offset + slot.count) { lora.parameters[i] = Float(random.nextUnit() - 0.5) * 0.4 }
        }
        return lora
    }

    static func check(_ model: Model, targets: Set<AdapterSet.Target> = Set(TrainableLoRA.trainableTargets),
                      checkpointing: Bool = false, dropout: Float = 0) throws {
        let graph = TrainingGraph(model: model, checkpointing: checkpointing)
        let lora = try randomLoRA(model, targets: targets, seed: 3)
        let examples = examples(vocabulary: model.vocabularySize)
        var gradients = [Float](repeating: 0, count: lora.parameters.count)
        let loss = try graph.accumulateGradients(examples, lora: lora, into: &gradients, lossScale: 1, dropout: dropout, dropoutSeed: 5)
        #expect(loss.tokens == 5 + 4)
        let norm = gradients.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(norm > 1e-3, "the gradient is not trivially zero")

        // The loss without gradients is the same forward.
        if dropout == 0 {
            let plain = try graph.loss(examples, lora: lora)
            #expect(abs(plain.sum - loss.sum) <= 1e-6 * abs(loss.sum))
        }

        var random = SplitMix64(seed: 17)
        let h: Float = 1e-2
        for _ in 0..<3 {
            var direction = (0..<lora.parameters.count).map { _ in Float(random.nextUnit() - 0.5) }
            let length = direction.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            direction = direction.map { Float(Double($0) / length) }
            func shifted(_ step: Float) throws -> Double {
                var moved = lora
                for i in moved.parameters.indices { moved.parameters[i] += step * direction[i] }
                if dropout == 0 { return try graph.loss(examples, lora: moved).sum }
                var ignored = [Float](repeating: 0, count: moved.parameters.count)
                return try graph.accumulateGradients(examples, lora: moved, into: &ignored, lossScale: 0, dropout: dropout, dropoutSeed: 5).sum
            }
            let numeric = (try shifted(h) - shifted(-h)) / Double(2 * h)
            let analytic = zip(gradients, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(numeric - analytic) <= 1e-4 * norm,
                    "finite difference \(numeric) vs gradient \(analytic) (|g| \(norm))")
        }

        // Each slot on its own: the largest gradient entry of its A and of its B.
        for slot in lora.slots {
            for range in [slot.offset..<slot.bOffset, slot.bOffset..<(slot.offset + slot.count)] {
                let i = range.max { abs(gradients[$0]) < abs(gradients[$1]) }!
                func shifted(_ step: Float) throws -> Double {
                    var moved = lora
                    moved.parameters[i] += step
                    if dropout == 0 { return try graph.loss(examples, lora: moved).sum }
                    var ignored = [Float](repeating: 0, count: moved.parameters.count)
                    return try graph.accumulateGradients(examples, lora: moved, into: &ignored, lossScale: 0, dropout: dropout, dropoutSeed: 5).sum
                }
                let numeric = (try shifted(h) - shifted(-h)) / Double(2 * h)
                #expect(abs(numeric - Double(gradients[i])) <= 1e-2 * abs(Double(gradients[i])) + 1e-4,
                        "layer \(slot.layer) \(slot.target) parameter \(i - slot.offset): finite difference \(numeric) vs gradient \(gradients[i])")
            }
        }
    }

    @Test func tinyLlamaQ8() throws {
        let model = try Model(contentsOf: TinyModel(width: 32, ffn: 64, layers: 2, heads: 4, kvHeads: 2, vocab: 40).write(seed: 4))
        try Self.check(model)
    }

    @Test func tinyQwen3Q8Tied() throws {
        let model = try Model(contentsOf: TinyModel(architecture: "qwen3", width: 32, ffn: 64, layers: 2, heads: 4, kvHeads: 2, vocab: 40,
                                                   headDimension: 16, tied: true).write(seed: 6))
        try Self.check(model)
    }

    @Test func checkpointingAndDropoutGiveTheSameGradients() throws {
        let model = try Model(contentsOf: TinyModel(width: 32, ffn: 64, layers: 2, heads: 4, kvHeads: 2, vocab: 40).write(seed: 4))
        let lora = try Self.randomLoRA(model, targets: [.query, .value, .down], seed: 8)
        let examples = Self.examples(vocabulary: model.vocabularySize)
        var stored = [Float](repeating: 0, count: lora.parameters.count), recomputed = stored
        let a = try TrainingGraph(model: model).accumulateGradients(examples, lora: lora, into: &stored, lossScale: 0.5, dropout: 0.3, dropoutSeed: 2)
        let b = try TrainingGraph(model: model, checkpointing: true)
            .accumulateGradients(examples, lora: lora, into: &recomputed, lossScale: 0.5, dropout: 0.3, dropoutSeed: 2)
        #expect(a == b)
        #expect(stored == recomputed)
        try Self.check(model, targets: [.query, .value, .down], dropout: 0.3)
    }

    @Test func randomLlamaF32() throws {
        try Self.check(Model(contentsOf: RandomModels.path("llama-f32")), targets: [.query, .key, .value, .attentionOutput, .up])
    }

    @Test func randomQwen3F32() throws {
        try Self.check(Model(contentsOf: RandomModels.path("qwen3-f32")), targets: [.query, .key, .attentionOutput, .gate, .down], checkpointing: true)
    }

    @Test func randomQwen2F32() throws {
        try Self.check(Model(contentsOf: RandomModels.path("qwen2-f32")), targets: [.query, .key, .value, .down])
    }

    @Test func randomGemma3F32() throws {
        try Self.check(Model(contentsOf: RandomModels.path("gemma3-f32-small")), checkpointing: true)
    }

    /// The training forward is the inference forward: its loss equals the cross-entropy of the
    /// logits a session with the same adapter (unmerged) computes, on the F32 models where both
    /// are float products (qwen3: 1e-5 relative, float rounding of different product orders).
    /// gemma3's inference looks GELU up in ggml's F16 table as llama.cpp does, training uses the
    /// exact tanh form it differentiates (an F16 ulp apart per activation, measured 4.8e-6 relative
    /// on the loss): 1e-4.
    @Test(arguments: [("qwen3-f32", 1e-5), ("gemma3-f32-small", 1e-4)])
    func lossMatchesInferenceLogits(recipe: String, tolerance: Double) throws {
        let model = try Model(contentsOf: RandomModels.path(recipe))
        let lora = try Self.randomLoRA(model, targets: Set(TrainableLoRA.trainableTargets), seed: 12)
        let examples = Self.examples(vocabulary: model.vocabularySize)
        let loss = try TrainingGraph(model: model).loss(examples, lora: lora)
        var expected = 0.0
        for example in examples {
            let session = model.makeSession()
            session.adapters = try lora.adapterSet(model: model)
            let logits = try session.forward(tokens: example.tokens)
            for i in 1..<example.tokens.count where example.trained[i] {
                let row = (0..<model.vocabularySize).map { Double(logits.values[(i - 1) * model.vocabularySize + $0]) }
                let top = row.max()!
                expected += log(row.reduce(0) { $0 + exp($1 - top) }) + top - row[example.tokens[i]]
            }
        }
        print("\(recipe): training loss \(loss.sum) vs inference \(expected), relative \(abs(loss.sum - expected) / abs(expected))")
        #expect(abs(loss.sum - expected) <= tolerance * abs(expected), "training \(loss.sum) vs inference \(expected)")
    }

    @Test func badExamplesAreRefused() throws {
        let model = try Model(contentsOf: TinyModel(width: 32, ffn: 64, layers: 1, heads: 4, kvHeads: 2, vocab: 40).write(seed: 4))
        let lora = try TrainableLoRA(model: model, targets: [.query], rank: 2, alpha: 4, seed: 1)
        let graph = TrainingGraph(model: model)
        #expect(throws: TrainingError.invalidExample(index: 1, reason: "token 40 is outside the vocabulary of 40")) {
            try graph.loss([.init(tokens: [1, 2], trained: [false, true]), .init(tokens: [40], trained: [false])], lora: lora)
        }
        #expect(throws: TrainingError.self) { try graph.loss([.init(tokens: [1, 2], trained: [false])], lora: lora) }
        #expect(throws: TrainingError.self) { try TrainableLoRA(model: model, targets: [.output], rank: 2, alpha: 4, seed: 1) }
    }
}
