import Foundation
import GGUFFormat
import LocoTestSupport
import Quantization
import Testing
@testable import Inference

/// Continuous batching (``BatchDecoder``) is row-invariant: every session's logits in a batched
/// step are bit for bit those of a one-token `Session.forward` on that session alone, whatever
/// else shares the step: other sessions at other positions, with other adapters or none. The
/// check is exact equality (a server's replies must not depend on its load), on a quantized
/// model (the kernels whose float order could differ between one row and several), with
/// random adapters on every projection and the output layer.
@Suite struct BatchDecoderTests {
    /// The random llama quantized: Q4_K_M (Q4_K and Q6_K rows, a Q6_K output layer), and Q4_1 and
    /// Q8_0 (the formats whose batched products unpack each weight row once for several inputs),
    /// and Q4_0 (on x86, ggml's repacked order for a single input and for several).
    static func model(_ type: QuantizationFileType) -> Model? {
        guard let source = try? RandomModels.path("llama-f32") else { return nil }
        let path = RandomModels.scratch("batch-\(type.rawValue).gguf")
        guard (try? ModelQuantizer(recipe: QuantizationRecipe(type), allowRequantize: false).quantize(input: source, output: path)) != nil
        else { return nil }
        return try? Model(file: GGUFFile(contentsOf: path))
    }

    @Test(arguments: [QuantizationFileType.q4_K_M, .q4_1, .q8_0, .q4_0])
    func batchedStepsEqualOneSessionAlone(_ type: QuantizationFileType) throws {
        let model = try #require(Self.model(type))
        let first = try AdapterTests.adapterSet(model, AdapterTests.randomFactors(model, seed: 11))
        let second = try AdapterTests.adapterSet(model, AdapterTests.randomFactors(model, seed: 12))
        let prompts: [[Int32]] = [[5, 60, 7, 100], [9, 9, 9], [200, 31, 47, 58, 69, 70, 12], [3], [44, 45], [1, 2, 3], [77],
                                  [8, 80, 88, 120], [13, 14], [99, 98, 97, 96, 95]]
        // Runs of one set (one product for several rows unless the step is row-invariant) and
        // changes of set from row to row.
        let adapters: [AdapterSet?] = [first, first, nil, second, second, second, first, nil, nil, first]

        // Alone: prefill, then 6 one-token steps on each session by itself.
        var alone: [[[Float]]] = []
        var chains: [[Int32]] = []
        for (prompt, set) in zip(prompts, adapters) {
            let session = model.makeSession(contextLength: 32)
            session.adapters = set
            var logits = try session.forward(tokens: prompt, logits: .last).values
            var steps: [[Float]] = [], chain: [Int32] = []
            for _ in 0..<6 {
                let token = Int32(Logits(positions: 1, vocabularySize: model.vocabularySize, values: logits).argmax(position: 0))
                chain.append(token)
                logits = try session.forward(tokens: [token], logits: .last).values
                steps.append(logits)
            }
            alone.append(steps)
            chains.append(chain)
        }

        // Batched: the same chains, two sessions joining at each step, so every step mixes
        // positions and adapters and the batch size goes from 2 to 10 (past the 8 rows from
        // which products would take the panel kernels) and back.
        let decoder = BatchDecoder(model: model)
        let sessions = zip(prompts, adapters).map { prompt, set -> Session in
            let session = model.makeSession(contextLength: 32)
            session.adapters = set
            _ = try? session.forward(tokens: prompt, logits: .last)
            return session
        }
        var next = [Int](repeating: 0, count: prompts.count)
        for step in 0..<(6 + prompts.count / 2) {
            let active = (0..<prompts.count).filter { $0 / 2 <= step && next[$0] < 6 }
            let logits = try decoder.step(active.map { sessions[$0] }, tokens: active.map { chains[$0][next[$0]] })
            for (row, s) in active.enumerated() {
                let got = Array(logits[(row * model.vocabularySize)..<((row + 1) * model.vocabularySize)])
                #expect(got == alone[s][next[s]], "sequence \(s), step \(next[s]) in a batch of \(active.count)")
                next[s] += 1
            }
        }
        #expect(next.allSatisfy { $0 == 6 })
    }

    /// Prompts prefilled together (``BatchDecoder/prefill(_:prompts:)``) leave every session as a
    /// prefill alone does: the same last logits and, through the cache, the same next steps, bit
    /// for bit. Nine prompts long enough for the panel kernels share two passes; a short prompt
    /// and one with an adapter run alone beside them.
    @Test(arguments: [QuantizationFileType.q4_K_M, .q4_1, .q8_0, .q4_0])
    func sharedPrefillEqualsEachPromptAlone(_ type: QuantizationFileType) throws {
        let model = try #require(Self.model(type))
        let adapter = try AdapterTests.adapterSet(model, AdapterTests.randomFactors(model, seed: 21))
        var prompts: [[Int32]] = []
        // 8 to 80 tokens: the K formats under the AVX2 set take the panel form from 64 inputs.
        for p in 0..<9 {
            let length = 8 + 9 * p
            prompts.append((0..<length).map { (t: Int) -> Int32 in Int32((p * 37 + t * 11) % 250 + 1) })
        }
        prompts.append([4, 5, 6])
        prompts.append((0..<12).map { (t: Int) -> Int32 in Int32(t + 30) })
        let adapters: [AdapterSet?] = Array(repeating: nil, count: 10) + [adapter]
        let steps = 3

        func continuation(_ session: Session, from logits: [Float]) throws -> [[Float]] {
            var logits = logits, out: [[Float]] = []
            for _ in 0..<steps {
                let token = Int32(Logits(positions: 1, vocabularySize: model.vocabularySize, values: logits).argmax(position: 0))
                logits = try session.forward(tokens: [token], logits: .last).values
                out.append(logits)
            }
            return out
        }
        var alone: [[Float]] = [], aloneSteps: [[[Float]]] = []
        for (prompt, set) in zip(prompts, adapters) {
            let session = model.makeSession(contextLength: 96)
            session.adapters = set
            let logits = try session.forward(tokens: prompt, logits: .last).values
            alone.append(logits)
            aloneSteps.append(try continuation(session, from: logits))
        }

        let decoder = BatchDecoder(model: model)
        let sessions = adapters.map { set -> Session in
            let session = model.makeSession(contextLength: 96)
            session.adapters = set
            return session
        }
        let together = try decoder.prefill(sessions, prompts: prompts)
        for s in prompts.indices {
            #expect(sessions[s].position == prompts[s].count)
            #expect(together[s] == alone[s], "prompt \(s) (\(prompts[s].count) tokens): last logits")
            #expect(try continuation(sessions[s], from: together[s]) == aloneSteps[s], "prompt \(s): the steps after it")
        }
    }

    @Test func badPrefillsAreRefusedBeforeAnythingMoves() throws {
        let model = try #require(Self.model(.q4_1))
        let decoder = BatchDecoder(model: model)
        let a = model.makeSession(contextLength: 16), b = model.makeSession(contextLength: 16)
        let long = [Int32](repeating: 3, count: 10)
        #expect(throws: ModelError.self) { try decoder.prefill([a, b], prompts: [long, long + long]) }
        #expect(throws: ModelError.self) { try decoder.prefill([a, b], prompts: [long, []]) }
        #expect(throws: ModelError.self) { try decoder.prefill([a, a], prompts: [long, long]) }
        #expect(throws: ModelError.self) { try decoder.prefill([a, b], prompts: [long, [Int32(model.vocabularySize)]]) }
        #expect(a.position == 0 && b.position == 0)
    }

    @Test func badStepsAreRefusedBeforeAnythingMoves() throws {
        let model = try #require(Self.model(.q4_K_M))
        let decoder = BatchDecoder(model: model)
        let a = model.makeSession(contextLength: 2), b = model.makeSession(contextLength: 8)
        _ = try a.forward(tokens: [1, 2], logits: .last)
        #expect(throws: ModelError.self) { try decoder.step([a, b], tokens: [3, 4]) }
        #expect(throws: ModelError.self) { try decoder.step([b, b], tokens: [3, 4]) }
        #expect(throws: ModelError.self) { try decoder.step([b], tokens: [Int32(model.vocabularySize)]) }
        #expect(a.position == 2 && b.position == 0)
    }
}
