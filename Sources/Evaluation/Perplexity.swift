import Foundation
import Inference
import Tensor
import Tokenization

/// How well a model predicts a text, measured as llama.cpp's `llama-perplexity` measures it, and
/// how far a (quantized) model's next-token distributions are from a reference model's, as its
/// `--kl-divergence` mode reports it.
///
/// The method: the text is tokenized with BOS when the model adds one; it is cut into chunks of
/// `context` tokens (the tail that does not fill a chunk is dropped, and at least two chunks are
/// needed); each chunk runs from an empty cache with its first token replaced by BOS (when the
/// model adds one); the second half of each chunk is scored: the logits at positions
/// `context/2 ..< context-1` predict the tokens after them. Perplexity is `exp` of the mean
/// negative log-likelihood over the scored tokens.
public enum Perplexity {
    /// The perplexity of one model over a text.
    public struct Result: Sendable, Equatable, Encodable {
        public var perplexity: Double
        /// The standard error of the perplexity (llama.cpp's estimate from the per-token NLLs).
        public var perplexityError: Double
        public var meanNegativeLogLikelihood: Double
        public var tokensScored: Int
        public var chunks: Int
        public var context: Int
        public var textTokens: Int

        enum CodingKeys: String, CodingKey {
            case perplexity, chunks, context
            case perplexityError = "perplexity_error"
            case meanNegativeLogLikelihood = "mean_nll"
            case tokensScored = "tokens_scored"
            case textTokens = "text_tokens"
        }
    }

    /// A model's distributions against a reference's over the same scored tokens.
    public struct Divergence: Sendable, Equatable, Encodable {
        /// The mean over scored tokens of KL(reference || model), in nats.
        public var meanKLD: Double
        public var medianKLD: Double
        /// The 99th percentile of the per-token KL divergences.
        public var kld99: Double
        public var maximumKLD: Double
        /// The share of scored positions where both models' most likely token is the same.
        public var top1Agreement: Double
        public var perplexity: Double
        public var referencePerplexity: Double
        /// `perplexity / referencePerplexity`.
        public var perplexityRatio: Double
        public var tokensScored: Int
        public var chunks: Int
        public var context: Int

        enum CodingKeys: String, CodingKey {
            case perplexity, chunks, context
            case meanKLD = "mean_kld"
            case medianKLD = "median_kld"
            case kld99 = "kld_99"
            case maximumKLD = "max_kld"
            case top1Agreement = "top1_agreement"
            case referencePerplexity = "reference_perplexity"
            case perplexityRatio = "perplexity_ratio"
            case tokensScored = "tokens_scored"
        }
    }

    /// Why a text cannot be scored.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// The tokens of `text` as llama-perplexity reads it, and the chunk count for `context`.
    public static func chunks(of text: String, tokenizer: Tokenizer, context: Int) throws(Failure) -> (tokens: [Int32], chunks: Int) {
        guard context >= 8 else { throw Failure("--ctx must be at least 8 (got \(context))") }
        let tokens = tokenizer.encode(text, addSpecial: true)
        let count = tokens.count / context
        guard count >= 2 else {
            throw Failure("the text has \(tokens.count) tokens; at least 2 x ctx = \(2 * context) are needed (as llama-perplexity asks)")
        }
        return (tokens, count)
    }

    /// The perplexity of `model` over `text` in chunks of `context` tokens; `progress` is called
    /// after each chunk with (done, total).
    public static func measure(model: Model, tokenizer: Tokenizer, text: String, context: Int, pool: ComputePool = .shared,
                               numerics: Numerics = .fast,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> Result {
        let (tokens, count) = try chunks(of: text, tokenizer: tokenizer, context: context)
        var nll: [Double] = []
        for chunk in 0..<count {
            let logits = try chunkLogits(model: model, tokenizer: tokenizer, tokens: tokens, chunk: chunk, context: context, pool: pool, numerics: numerics)
            for (row, target) in scored(tokens, chunk: chunk, context: context) {
                nll.append(-logSoftmax(logits[row], at: Int(target)))
            }
            progress(chunk + 1, count)
        }
        let (mean, error) = perplexityAndError(nll)
        return Result(perplexity: exp(mean), perplexityError: error, meanNegativeLogLikelihood: mean, tokensScored: nll.count,
                      chunks: count, context: context, textTokens: tokens.count)
    }

    /// `model` against `reference` (same tokenizer) over `text`: KL divergence of the reference's
    /// next-token distribution from the model's at every scored position, top-1 agreement and
    /// both perplexities.
    public static func divergence(model: Model, reference: Model, tokenizer: Tokenizer, text: String, context: Int,
                                  pool: ComputePool = .shared, numerics: Numerics = .fast, progress: (Int, Int) -> Void = { _, _ in }) throws -> Divergence {
        guard model.vocabularySize == reference.vocabularySize else {
            throw Failure("the models' vocabularies differ (\(model.vocabularySize) and \(reference.vocabularySize) tokens)")
        }
        let (tokens, count) = try chunks(of: text, tokenizer: tokenizer, context: context)
        var kld: [Double] = [], nll: [Double] = [], referenceNLL: [Double] = [], agree = 0
        for chunk in 0..<count {
            let q = try chunkLogits(model: model, tokenizer: tokenizer, tokens: tokens, chunk: chunk, context: context, pool: pool, numerics: numerics)
            let p = try chunkLogits(model: reference, tokenizer: tokenizer, tokens: tokens, chunk: chunk, context: context, pool: pool, numerics: numerics)
            for (row, target) in scored(tokens, chunk: chunk, context: context) {
                let logQ = logSoftmax(q[row]), logP = logSoftmax(p[row])
                var sum = 0.0
                for i in logP.indices where logP[i] > -Double.infinity { sum += exp(logP[i]) * (logP[i] - logQ[i]) }
                kld.append(max(0, sum))
                nll.append(-logQ[Int(target)])
                referenceNLL.append(-logP[Int(target)])
                if q.argmax(position: row) == p.argmax(position: row) { agree += 1 }
            }
            progress(chunk + 1, count)
        }
        let sorted = kld.sorted()
        let ppl = exp(nll.reduce(0, +) / Double(nll.count)), referencePPL = exp(referenceNLL.reduce(0, +) / Double(referenceNLL.count))
        return Divergence(meanKLD: kld.reduce(0, +) / Double(kld.count), medianKLD: percentile(sorted, 0.5),
                          kld99: percentile(sorted, 0.99), maximumKLD: sorted.last ?? 0,
                          top1Agreement: Double(agree) / Double(kld.count), perplexity: ppl, referencePerplexity: referencePPL,
                          perplexityRatio: ppl / referencePPL, tokensScored: kld.count, chunks: count, context: context)
    }

    // MARK: The method's pieces

    /// The logits of every position of chunk `chunk`, run from an empty cache with BOS first
    /// when the model adds one.
    static func chunkLogits(model: Model, tokenizer: Tokenizer, tokens: [Int32], chunk: Int, context: Int,
                            pool: ComputePool, numerics: Numerics) throws -> Logits {
        var ids = Array(tokens[chunk * context ..< (chunk + 1) * context])
        if tokenizer.addsBOS, let bos = tokenizer.bos { ids[0] = bos }
        // One pass a chunk: an F32 cache costs little here and keeps keys and values exact.
        return try model.makeSession(contextLength: context, cachePrecision: .f32, numerics: numerics, pool: pool)
            .forward(tokens: ids, logits: .all)
    }

    /// The scored (logit row, next token) pairs of a chunk: rows `context/2 ..< context-1`.
    static func scored(_ tokens: [Int32], chunk: Int, context: Int) -> [(Int, Int32)] {
        let start = chunk * context
        return (context / 2 ..< context - 1).map { ($0, tokens[start + $0 + 1]) }
    }

    static func logSoftmax(_ row: ArraySlice<Float>) -> [Double] {
        let top = Double(row.max() ?? 0)
        let sum = row.reduce(0.0) { $0 + exp(Double($1) - top) }
        let shift = top + log(sum)
        return row.map { Double($0) - shift }
    }

    static func logSoftmax(_ row: ArraySlice<Float>, at index: Int) -> Double {
        let top = Double(row.max() ?? 0)
        let sum = row.reduce(0.0) { $0 + exp(Double($1) - top) }
        return Double(row[row.startIndex + index]) - top - log(sum)
    }

    /// The mean NLL and the standard error of exp(mean), as llama-perplexity estimates it.
    static func perplexityAndError(_ nll: [Double]) -> (mean: Double, error: Double) {
        let n = Double(nll.count)
        let mean = nll.reduce(0, +) / n
        let meanSquare = nll.reduce(0) { $0 + $1 * $1 } / n
        let error = n > 1 ? ((meanSquare - mean * mean) / (n - 1)).squareRoot() * exp(mean) : 0
        return (mean, error)
    }

    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((q * Double(sorted.count - 1)).rounded()))]
    }
}
