import Foundation
import LocoTestSupport
import Testing
@testable import Inference
import Tensor

/// A session continues from the positions it has seen, whatever the split of the input.
@Suite struct SessionTests {
    static func maxDifference(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    static let tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4]

    func withModel(_ body: (Model) throws -> Void) throws {
        var tiny = TinyModel()
        tiny.context = 32
        let path = try tiny.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(Model(contentsOf: path))
    }

    /// In llama.cpp's order, a batch's results do not depend on how the batch is split (as long as
    /// no piece is a single token, which ggml runs through another kernel).
    @Test func chunkedPrefillIsBitIdentical() throws {
        try withModel { model in
            let whole = try model.makeSession(numerics: .llamaCpp).forward(tokens: Self.tokens)
            let session = model.makeSession(numerics: .llamaCpp)
            let first = try session.forward(tokens: Array(Self.tokens[..<7]))
            let second = try session.forward(tokens: Array(Self.tokens[7...]))
            #expect(Self.maxDifference(first.values + second.values, whole.values) == 0)
            #expect(session.position == Self.tokens.count)
        }
    }

    @Test func decodeAgreesWithPrefill() throws {
        try withModel { model in
            let whole = try model.makeSession().forward(tokens: Self.tokens)
            let session = model.makeSession()
            for (i, token) in Self.tokens.enumerated() {
                let row = try session.decode(token)
                for (a, b) in zip(row, whole[i]) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
            }
            let last = try model.makeSession().forward(tokens: Self.tokens, logits: .last)
            // The output layer of one row runs the row kernels, of many the panel kernels: same
            // integers and scales, another float order.
            #expect(last.positions == 1)
            for (a, b) in zip(last[0], whole[Self.tokens.count - 1]) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
            #expect(last.argmax(position: 0) == whole.argmax(position: Self.tokens.count - 1))
        }
    }

    @Test func rewindAndHalfCache() throws {
        try withModel { model in
            let session = model.makeSession(cachePrecision: .f32)
            let first = try session.forward(tokens: Self.tokens)
            session.rewind(to: 5)
            let again = try session.forward(tokens: Array(Self.tokens[5...]))
            // Fast attention runs queries in BLAS blocks, so a different split may round differently.
            #expect(Self.maxDifference(again.values, first.values[(5 * model.vocabularySize)...]) <= 1e-5)
            let half = try model.makeSession(cachePrecision: .f16).forward(tokens: Self.tokens)
            // Half-precision keys and values change the 8-bit activations downstream now and then.
            #expect(Self.maxDifference(half.values, first.values) <= 0.1)
            #expect(Self.maxDifference(half.values, first.values) > 0)
        }
    }

    @Test func badTokensAndAFullContextAreErrors() throws {
        try withModel { model in
            let session = model.makeSession()
            #expect(throws: ModelError(.tokenOutOfRange(token: 40, vocabularySize: 40))) { try session.forward(tokens: [1, 40]) }
            #expect(throws: ModelError(.tokenOutOfRange(token: -1, vocabularySize: 40))) { try session.decode(-1) }
            #expect(session.position == 0)
            _ = try session.forward(tokens: Self.tokens)
            #expect(throws: ModelError(.contextFull(position: 20, adding: 13, contextLength: 32))) {
                try session.forward(tokens: [Int](repeating: 1, count: 13))
            }
        }
    }

    /// The embedding is the mean of the output-normed hidden states, the vectors the output layer
    /// turns into logits: with float weights the product is linear, so the output layer applied
    /// to the embedding is the mean of the logit rows.
    @Test func embeddingIsTheMeanOfTheNormedHiddenStates() throws {
        var tiny = TinyModel()
        tiny.context = 32
        tiny.matrixType = .f32
        let path = try tiny.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try Model(contentsOf: path)
        let logits = try model.makeSession().forward(tokens: Self.tokens)
        var meanRow = [Float](repeating: 0, count: model.vocabularySize)
        for p in 0..<Self.tokens.count {
            for (i, value) in logits[p].enumerated() { meanRow[i] += value / Float(Self.tokens.count) }
        }
        let session = model.makeSession()
        let embedding = try session.embedding(tokens: Self.tokens)
        #expect(embedding.count == tiny.width)
        #expect(session.position == 0)
        let projected = model.output.multiply(embedding, count: 1)
        #expect(Self.maxDifference(projected, meanRow) <= 1e-5 * max(1, meanRow.map(abs).max()!))
    }

    /// After every block, the layer embedding is the final one without the output norm's
    /// weights (the router's features stop earlier; the same code path pools them); a depth the
    /// model does not have is refused.
    @Test func embeddingAfterABlockIsTheRMSScaledMeanOfItsStates() throws {
        try withModel { model in
            let blocks = model.layers.count
            let final = try model.makeSession().embedding(tokens: Self.tokens)
            let last = try model.makeSession().embedding(tokens: Self.tokens, layers: blocks)
            let weighted = zip(last, model.outputNorm).map { $0 * $1 }
            #expect(Self.maxDifference(weighted, final) <= 1e-5 * max(1, final.map(abs).max()!))
            let early = try model.makeSession().embedding(tokens: Self.tokens, normalized: true, layers: 1)
            #expect(early.count == final.count && Self.maxDifference(early, last) > 1e-3)
            #expect(abs(early.reduce(0.0) { $0 + Double($1) * Double($1) } - 1) <= 1e-6)
            for bad in [0, blocks + 1] {
                #expect(throws: ModelError(.inconsistent("an embedding after \(bad) blocks: the model has \(blocks)"))) {
                    try model.makeSession().embedding(tokens: Self.tokens, layers: bad)
                }
            }
        }
    }

    @Test func embeddingIgnoresEarlierPositionsAndBatchSplits() throws {
        try withModel { model in
            let whole = try model.makeSession(numerics: .llamaCpp).embedding(tokens: Self.tokens)
            // Earlier positions are dropped first; passes of 6 positions give the same hidden states.
            let session = Session(model: model, contextLength: nil, cachePrecision: .f32, numerics: .llamaCpp, pool: .shared, batchSize: 6)
            _ = try session.forward(tokens: [7, 7, 7])
            let split = try session.embedding(tokens: Self.tokens)
            #expect(Self.maxDifference(split, whole) <= 1e-6)
            #expect(session.position == 0)

            let unit = try model.makeSession().embedding(tokens: Self.tokens, normalized: true)
            let raw = try model.makeSession().embedding(tokens: Self.tokens)
            let length = raw.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(unit.reduce(0.0) { $0 + Double($1) * Double($1) } - 1) <= 1e-6)
            #expect(Self.maxDifference(unit, raw.map { Float(Double($0) / length) }) <= 1e-7)

            #expect(throws: ModelError(.inconsistent("there are no tokens to embed"))) { try session.embedding(tokens: [Int]()) }
            #expect(throws: ModelError(.tokenOutOfRange(token: 40, vocabularySize: 40))) { try session.embedding(tokens: [1, 40]) }
            #expect(throws: ModelError(.contextFull(position: 0, adding: 33, contextLength: 32))) {
                try session.embedding(tokens: [Int](repeating: 1, count: 33))
            }
        }
    }
}
