import Foundation
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
            #expect(last.positions == 1 && Self.maxDifference(last[0], whole[Self.tokens.count - 1]) == 0)
            #expect(last.argmax(position: 0) == whole.argmax(position: Self.tokens.count - 1))
        }
    }

    @Test func rewindAndHalfCache() throws {
        try withModel { model in
            let session = model.makeSession()
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
}
