import Foundation
import GGUFFormat
import LocoTestSupport
import Testing
@testable import Inference

/// Tensors are checked against the configuration; a tensor nobody reads is refused (llama.cpp
/// refuses it too), so a model never runs with a part silently missing.
@Suite struct ModelLoadingTests {
    func loadError(_ tiny: TinyModel) throws -> ModelError.Kind? {
        let path = try tiny.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try Model(contentsOf: path)
            return nil
        } catch let error as ModelError {
            #expect(error.path == path)
            return error.kind
        }
    }

    @Test func loadsLlamaQwen3AndTiedModels() throws {
        for architecture in ["llama", "qwen3"] {
            for tied in [false, true] {
                var tiny = TinyModel()
                tiny.architecture = architecture
                tiny.tied = tied
                tiny.headDimension = architecture == "qwen3" ? 16 : nil
                let path = try tiny.write()
                defer { try? FileManager.default.removeItem(atPath: path) }
                let model = try Model(contentsOf: path)
                #expect(model.vocabularySize == 40)
                #expect(model.rotaryEmbedding.style == (architecture == "qwen3" ? .halves : .interleaved))
                #expect((model.layers[0].queryNorm != nil) == (architecture == "qwen3"))
                #expect((model.output.name == "token_embd.weight") == tied)
            }
        }
    }

    @Test func missingWrongAndUnusedTensorsAreErrors() throws {
        var missing = TinyModel()
        missing.omittedTensors = ["blk.1.ffn_up.weight"]
        #expect(try loadError(missing) == .missingTensor("blk.1.ffn_up.weight"))

        var wrong = TinyModel()
        wrong.shapeOverrides = ["blk.0.attn_k.weight": [32, 24]]
        #expect(try loadError(wrong) == .tensorShape(tensor: "blk.0.attn_k.weight", shape: [32, 24], expected: [32, 16]))

        var bias = TinyModel()
        bias.extraTensors = [("blk.0.attn_q.bias", [32])]
        if case .unsupportedTensor(let name, _)? = try loadError(bias) { #expect(name == "blk.0.attn_q.bias") } else {
            Issue.record("a bias this runtime does not apply must be refused")
        }

        var vocab = TinyModel()
        vocab.editMetadata = { $0["llama.vocab_size"] = .uint32(41) }
        if case .inconsistent(let why)? = try loadError(vocab) { #expect(why.contains("vocab_size 41")) } else {
            Issue.record("a vocabulary size that disagrees with the embeddings must be refused")
        }
    }
}
