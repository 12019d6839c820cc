import Foundation
import GGUFFormat
import LocoTestSupport
import Testing
@testable import Inference

/// Low-rank deltas applied unmerged (``AdapterSet``) against the same deltas merged into the
/// weights: an F32 model whose matrices are `W + scale * B A`, written as a GGUF and loaded as
/// a model of its own. Both sides run F32 BLAS products, so they agree to float rounding (the
/// bound, 1e-5 of the largest logit, is the F32 parity bar with llama.cpp); random non-zero
/// factors move the logits by far more, so the comparison can fail.
@Suite struct AdapterTests {
    static let tokens = [3, 17, 5, 22, 9, 31, 0, 12, 7, 7, 28, 1]
    static let rank = 3

    struct Factors {
        let name: String
        let layer: Int?
        let target: AdapterSet.Target
        let a: [Float], b: [Float]
        let inputs: Int, outputs: Int
        let scale: Float
    }

    static func randomFactors(_ model: Model, seed: UInt64) -> [Factors] {
        var state = seed
        func values(_ n: Int) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(state >> 40) / Float(1 << 24) - 0.5
            }
        }
        var list: [Factors] = []
        for layer in 0..<model.layers.count {
            for target in AdapterSet.Target.allCases where target != .output && target != .tokenEmbedding {
                let m = model.layers[layer].matrix(target)
                list.append(Factors(name: m.name, layer: layer, target: target, a: values(rank * m.columns), b: values(m.rows * rank),
                                    inputs: m.columns, outputs: m.rows, scale: 0.75))
            }
        }
        let out = model.output
        list.append(Factors(name: out.name, layer: nil, target: .output, a: values(rank * out.columns), b: values(out.rows * rank),
                            inputs: out.columns, outputs: out.rows, scale: 0.5))
        return list
    }

    static func adapterSet(_ model: Model, _ factors: [Factors]) throws -> AdapterSet {
        try AdapterSet(model: model, placements: factors.map {
            AdapterSet.Placement(layer: $0.layer, target: $0.target,
                                 delta: try .init(a: $0.a, b: $0.b, rank: rank, inputs: $0.inputs, outputs: $0.outputs, scale: $0.scale))
        })
    }

    /// A copy of the F32 model at `path` with every factor merged into its matrix.
    static func merged(_ path: String, _ factors: [Factors]) throws -> String {
        let file = try GGUFFile(contentsOf: path)
        let out = RandomModels.scratch("merged-\(UUID().uuidString).gguf")
        let byName = Dictionary(uniqueKeysWithValues: factors.map { ($0.name, $0) })
        try GGUFWriter(copying: file).write(to: out) { tensor, sink in
            let data = try file.tensorData(named: tensor.name)
            var w = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            if let f = byName[tensor.name] {
                for o in 0..<f.outputs {
                    for i in 0..<f.inputs {
                        var sum: Float = 0
                        for r in 0..<rank { sum += f.b[o * rank + r] * f.a[r * f.inputs + i] }
                        w[o * f.inputs + i] += f.scale * sum
                    }
                }
            }
            try sink.write(contentsOf: w)
        }
        return out
    }

    func withF32Model(_ body: (String, Model) throws -> Void) throws {
        var tiny = TinyModel()
        tiny.matrixType = .f32
        let path = try tiny.write(seed: 5)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path, Model(contentsOf: path))
    }

    static func largestDifference(_ x: [Float], _ y: [Float]) -> (Float, Float) {
        (zip(x, y).map { abs($0 - $1) }.max() ?? 0, y.map(abs).max() ?? 0)
    }

    @Test func unmergedDeltasEqualMergedWeights() throws {
        try withF32Model { path, model in
            let factors = Self.randomFactors(model, seed: 9)
            let mergedPath = try Self.merged(path, factors)
            defer { try? FileManager.default.removeItem(atPath: mergedPath) }
            let expected = try Model(contentsOf: mergedPath).makeSession().forward(tokens: Self.tokens).values
            let session = model.makeSession()
            session.adapters = try Self.adapterSet(model, factors)
            let prefill = try session.forward(tokens: Self.tokens).values
            var (difference, largest) = Self.largestDifference(prefill, expected)
            #expect(difference <= 1e-5 * largest, "prefill: \(difference) of \(largest)")
            // Decode steps (one row: the deltas' products run as matrix-vector ones).
            session.reset()
            var decoded: [Float] = []
            for token in Self.tokens { decoded += try session.decode(token) }
            (difference, largest) = Self.largestDifference(decoded, expected)
            #expect(difference <= 1e-5 * largest, "decode: \(difference) of \(largest)")
            // The deltas matter: the base model's logits are far away.
            let base = try model.makeSession().forward(tokens: Self.tokens).values
            #expect(Self.largestDifference(base, expected).0 > 0.01 * largest)
        }
    }

    /// Switching is a pointer swap on the session: removing the adapters gives the base model's
    /// logits bit for bit, and two sessions with different adapters share one model.
    @Test func swappingAdaptersOnALiveSession() throws {
        try withF32Model { _, model in
            let base = try model.makeSession().forward(tokens: Self.tokens).values
            let first = try Self.adapterSet(model, Self.randomFactors(model, seed: 1))
            let second = try Self.adapterSet(model, Self.randomFactors(model, seed: 2))
            let a = model.makeSession(), b = model.makeSession()
            a.adapters = first
            b.adapters = second
            let withFirst = try a.forward(tokens: Self.tokens).values
            let withSecond = try b.forward(tokens: Self.tokens).values
            #expect(withFirst != withSecond && withFirst != base)
            a.reset()
            a.adapters = second
            #expect(try a.forward(tokens: Self.tokens).values == withSecond)
            a.reset()
            a.adapters = nil
            #expect(try a.forward(tokens: Self.tokens).values == base)
        }
    }

    @Test func deltasThatDoNotFitAreErrors() throws {
        try withF32Model { _, model in
            let q = model.layers[0].query
            #expect(throws: ModelError(.adapterShape(tensor: "blk.0.attn_q.weight", expected: [q.columns, q.rows], actual: [q.columns + 1, q.rows]))) {
                try AdapterSet(model: model, placements: [.init(layer: 0, target: .query, delta: try .init(
                    a: [Float](repeating: 0.1, count: q.columns + 1), b: [Float](repeating: 0.1, count: q.rows),
                    rank: 1, inputs: q.columns + 1, outputs: q.rows, scale: 1))])
            }
            #expect(throws: ModelError(.adapterTarget(tensor: "blk.7.ffn_up.weight"))) {
                try AdapterSet(model: model, placements: [.init(layer: 7, target: .up, delta: try .init(
                    a: [0.1], b: [0.1], rank: 1, inputs: 1, outputs: 1, scale: 1))])
            }
            #expect(throws: ModelError(.adapterFactors(rank: 2, inputs: 4, outputs: 3, aCount: 8, bCount: 5))) {
                try AdapterSet.Delta(a: [Float](repeating: 0, count: 8), b: [Float](repeating: 0, count: 5), rank: 2, inputs: 4,
                                     outputs: 3, scale: 1)
            }
            let message = ModelError(.adapterShape(tensor: "blk.0.attn_q.weight", expected: [32, 32], actual: [33, 32])).description
            #expect(message.contains("blk.0.attn_q.weight") && message.contains("[33, 32]") && message.contains("[32, 32]"))
        }
    }
}
