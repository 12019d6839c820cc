import GGUFFormat
import LocoTestSupport
import Testing
@testable import Inference

/// Hyper-parameters from metadata: llama.cpp's defaults, and errors that name the key.
@Suite struct ModelConfigurationTests {
    func configuration(_ edit: @escaping (inout GGUFMetadata) -> Void, architecture: String = "llama") throws -> ModelConfiguration {
        var tiny = TinyModel()
        tiny.architecture = architecture
        tiny.editMetadata = edit
        return try ModelConfiguration(metadata: tiny.metadata)
    }

    @Test func readsTheArchitecturesKeysWithDefaults() throws {
        let c = try configuration { _ in }
        #expect(c.architecture == .llama)
        #expect(c.blockCount == 2 && c.embeddingLength == 32 && c.feedForwardLength == 64)
        #expect(c.headCount == 4 && c.kvHeadCount == 2)
        #expect(c.headDimension == 8 && c.ropeDimensions == 8)  // width / heads without key_length
        #expect(c.ropeFrequencyScale == 1 && c.ropeFrequencyBase == 10000 && c.rmsEpsilon == 1e-5)
        let q = try configuration({ $0["qwen3.attention.key_length"] = .uint32(16); $0["qwen3.attention.value_length"] = .uint32(16) },
                                  architecture: "qwen3")
        #expect(q.architecture == .qwen3 && q.headDimension == 16 && q.queryWidth == 64 && q.keyValueWidth == 32)
        let defaults = try configuration { $0["llama.attention.head_count_kv"] = nil; $0["llama.rope.freq_base"] = nil }
        #expect(defaults.kvHeadCount == 4 && defaults.ropeFrequencyBase == 10000)
        let linear = try configuration { $0["llama.rope.scaling.type"] = .string("linear"); $0["llama.rope.scaling.factor"] = .float32(4) }
        #expect(linear.ropeFrequencyScale == 0.25)
    }

    /// Gemma 3 as llama.cpp reads it: a window on five of every six blocks unless the pattern
    /// says otherwise, local RoPE base 10000 by default, queries scaled by 1/sqrt(head size).
    @Test func readsGemma3sSlidingWindow() throws {
        let g = try configuration({
            $0["gemma3.block_count"] = .uint32(7)
            $0["gemma3.attention.sliding_window"] = .uint32(512)
        }, architecture: "gemma3")
        #expect(g.architecture == .gemma3 && g.slidingWindow == 512)
        #expect(g.slidingWindowLayers == [true, true, true, true, true, false, true])
        #expect(g.localRopeFrequencyBase == 10000 && g.attentionScale == 1 / Float(8).squareRoot())
        let patterned = try configuration({
            $0["gemma3.attention.sliding_window"] = .uint32(4)
            $0["gemma3.attention.sliding_window_pattern"] = .array(GGUFArray(elementType: .bool, values: [.bool(false), .bool(true)]))
            $0["gemma3.rope.freq_base_swa"] = .float32(500)
        }, architecture: "gemma3")
        #expect(patterned.slidingWindowLayers == [false, true] && patterned.localRopeFrequencyBase == 500)
        let noWindow = try configuration({ _ in }, architecture: "gemma3")
        #expect(noWindow.slidingWindow == nil && noWindow.slidingWindowLayers == [false, false])
        #expect(throws: ModelError.self) {
            try configuration({
                $0["gemma3.attention.sliding_window"] = .uint32(4)
                $0["gemma3.attention.sliding_window_pattern"] = .array(GGUFArray(elementType: .bool, values: [.bool(false)]))
            }, architecture: "gemma3")
        }
    }

    @Test func errorsNameTheKey() {
        func kind(_ edit: @escaping (inout GGUFMetadata) -> Void) -> ModelError.Kind? {
            do {
                _ = try configuration(edit)
                return nil
            } catch let error as ModelError {
                return error.kind
            } catch {
                return nil
            }
        }
        #expect(kind { $0["general.architecture"] = nil } == .missingArchitecture)
        #expect(kind { $0["general.architecture"] = .string("gpt2") } == .unsupportedArchitecture("gpt2"))
        #expect(kind { $0["llama.block_count"] = nil } == .missingKey("llama.block_count"))
        #expect(kind { $0["llama.attention.layer_norm_rms_epsilon"] = nil } == .missingKey("llama.attention.layer_norm_rms_epsilon"))
        #expect(kind { $0["llama.embedding_length"] = .string("32") }
                == .invalidValue(key: "llama.embedding_length", value: "\(GGUFValue.string("32"))", expected: "a positive integer"))
        #expect(kind { $0["llama.attention.head_count"] = .uint32(0) }
                == .invalidValue(key: "llama.attention.head_count", value: "\(GGUFValue.uint32(0))", expected: "a positive integer"))
        if case .inconsistent(let why)? = kind({ $0["llama.attention.head_count_kv"] = .uint32(3) }) {
            #expect(why.contains("head_count_kv 3"))
        } else {
            Issue.record("a KV head count that does not divide the head count must be refused")
        }
        if case .invalidValue(let key, _, let expected)? = kind({ $0["llama.rope.scaling.type"] = .string("yarn") }) {
            #expect(key == "llama.rope.scaling.type" && expected.contains("YaRN"))
        } else {
            Issue.record("YaRN scaling must be refused, not run wrongly")
        }
        if case .inconsistent? = kind({ $0["llama.rope.dimension_count"] = .uint32(12) }) {} else {
            Issue.record("RoPE dimensions beyond the head must be refused")
        }
    }

    @Test func messagesNameTheFile() throws {
        let error = ModelError(.missingKey("llama.block_count"), path: "/m.gguf")
        #expect(error.description == "/m.gguf: metadata key 'llama.block_count' is missing")
    }
}
