import Foundation
import GGUFFormat
import Inference
import Adapters
import LocoTestSupport
import Testing

/// An adapter is checked against its base: architecture, every target present, shapes.
@Suite(.serialized) struct ValidationTests {
    @Test func fixturesFitTheirBases() throws {
        guard LoRAFixture.available else { return }
        for fixture in [try LoRAFixture.llama(), try LoRAFixture.qwen3()] {
            let base = try GGUFFile(contentsOf: fixture.base)
            try LoRAAdapter(contentsOf: fixture.gguf).validate(against: base)
            try LoRAAdapter(contentsOf: fixture.peft("f16")).validate(against: base)
        }
        let llama = try LoRAFixture.llama()
        try LoRAAdapter(contentsOf: llama.gguf).validate(against: Model(contentsOf: llama.base))
    }

    @Test func wrongArchitecture() throws {
        guard LoRAFixture.available else { return }
        let qwen3 = try LoRAAdapter(contentsOf: LoRAFixture.qwen3().gguf)
        let llamaBase = try GGUFFile(contentsOf: LoRAFixture.llama().base)
        let error = expectLoRAError({ try qwen3.validate(against: llamaBase) }) { $0 == .architectureMismatch(adapter: "qwen3", base: "llama") }
        #expect(error?.description == "\(qwen3.metadata.path!): the adapter is for architecture 'qwen3' but the base is 'llama'")
    }

    /// A PEFT adapter records no architecture; a wrong base shows in the shapes, named with both.
    @Test func wrongWidth() throws {
        guard LoRAFixture.available else { return }
        let qwen3 = try LoRAAdapter(contentsOf: LoRAFixture.qwen3().peft("f32"))
        let llamaBase = try GGUFFile(contentsOf: LoRAFixture.llama().base)
        let error = expectLoRAError({ try qwen3.validate(against: llamaBase) }) {
            $0 == .shapeMismatch(target: "blk.0.attn_q.weight", a: [4, 256], b: [512, 4], expected: [256, 512], base: [256, 256])
        }
        let message = error?.description ?? ""
        #expect(message.contains("'blk.0.attn_q.weight'") && message.contains("[256, 512]") && message.contains("[256, 256]"), "\(message)")

        // One column too many on one target of an otherwise fitting adapter.
        let llama = try LoRAAdapter(contentsOf: LoRAFixture.llama().gguf)
        var weights = llama.weights
        let down = weights["blk.2.ffn_down.weight"]!
        weights["blk.2.ffn_down.weight"] = LoRAWeights(
            a: LoRAMatrix(rows: down.rank, columns: down.inputWidth + 1, values: [Float](repeating: 1, count: down.rank * (down.inputWidth + 1))),
            b: down.b)
        let widened = try LoRAAdapter(weights: weights, alpha: llama.alpha, metadata: llama.metadata)
        expectLoRAError({ try widened.validate(against: llamaBase) }) {
            $0 == .shapeMismatch(target: "blk.2.ffn_down.weight", a: [8, 257], b: [256, 8], expected: [257, 256], base: [256, 256])
        }
        // The embedding is checked in its own layout: A spans the vocabulary, B the width.
        let embedding = llama.weights["token_embd.weight"]!
        weights = llama.weights
        weights["token_embd.weight"] = LoRAWeights(a: embedding.b.transposed(), b: embedding.a.transposed())
        let flipped = try LoRAAdapter(weights: weights, alpha: llama.alpha, metadata: llama.metadata)
        expectLoRAError({ try flipped.validate(against: llamaBase) }) {
            $0 == .shapeMismatch(target: "token_embd.weight", a: [8, 256], b: [512, 8], expected: [512, 256], base: [256, 512])
        }
    }

    @Test func targetsMissingFromTheBase() throws {
        guard LoRAFixture.available else { return }
        let llamaBase = try GGUFFile(contentsOf: LoRAFixture.llama().base)
        let deep = try memoryAdapter(["blk.9.attn_q.weight": (256, 256)], architecture: "llama")
        expectLoRAError({ try deep.validate(against: llamaBase) }) { $0 == .targetNotInBase(target: "blk.9.attn_q.weight", hint: nil) }
        // The llama adapter's output layer on a base that ties it to the embedding.
        let llama = try LoRAAdapter(contentsOf: LoRAFixture.llama().peft("f32"))
        let qwen3Base = try GGUFFile(contentsOf: LoRAFixture.qwen3().base)
        let output = try LoRAAdapter(weights: ["output.weight": llama.weights["output.weight"]!], alpha: 16)
        expectLoRAError({ try output.validate(against: qwen3Base) }) {
            $0 == .targetNotInBase(target: "output.weight", hint: "the base ties its output layer to token_embd.weight")
        }
    }
}
