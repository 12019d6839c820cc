import LocoSupport
/// Picks the next token from a row of logits: greedy, or sampled after penalties, top-k, top-p,
/// min-p and temperature, in llama.cpp's default order. Deterministic for a seed: the same seed,
/// logits and history give the same tokens on every machine (the generator is our own SplitMix64,
/// and ties are broken by token id).
///
/// ```swift
/// var sampler = Sampler(SamplerSettings(temperature: 0.7, topP: 0.9, seed: 42))
/// let next = sampler.sample(logits: row, history: tokensSoFar)
/// ```
public struct SamplerSettings: Sendable, Equatable, Codable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// Keep the k most likely tokens; 0 keeps all.
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches p; 1 keeps all.
    public var topP: Float
    /// Drop tokens less likely than minP times the most likely one; 0 keeps all.
    public var minP: Float
    /// Divide positive logits (multiply negative ones) of tokens seen in the last
    /// `penaltyWindow` tokens by this; 1 is off. (llama.cpp's `repeat_penalty`.)
    public var repetitionPenalty: Float
    /// Subtract this from the logits of tokens seen in the window; 0 is off.
    public var presencePenalty: Float
    /// Subtract this times the token's count in the window; 0 is off.
    public var frequencyPenalty: Float
    /// How many recent tokens the penalties look at (llama.cpp's `penalty_last_n`).
    public var penaltyWindow: Int
    public var seed: UInt64

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
                repetitionPenalty: Float = 1, presencePenalty: Float = 0, frequencyPenalty: Float = 0,
                penaltyWindow: Int = 64, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.penaltyWindow = penaltyWindow
        self.seed = seed
    }

    /// Always the most likely token.
    public static let greedy = SamplerSettings(temperature: 0, topK: 0, topP: 1, minP: 0)
}

public struct Sampler: Sendable {
    public let settings: SamplerSettings
    private var random: SplitMix64

    public init(_ settings: SamplerSettings) {
        self.settings = settings
        random = SplitMix64(seed: settings.seed)
    }

    /// The next token for `logits` (one row, a value per vocabulary entry) after `history`.
    public mutating func sample<Token: BinaryInteger>(logits: [Float], history: [Token] = [Int32]()) -> Int32 {
        var candidates = logits
        applyPenalties(&candidates, history: history)
        if settings.temperature <= 0 { return Sampler.argmax(candidates) }

        // Candidates sorted by logit, highest first; ties by lower id.
        var order = Array(0..<candidates.count)
        order.sort { candidates[$0] != candidates[$1] ? candidates[$0] > candidates[$1] : $0 < $1 }
        if settings.topK > 0 { order = Array(order.prefix(settings.topK)) }

        var probabilities = Sampler.softmax(order.map { candidates[$0] })
        if settings.topP < 1 {
            var sum: Float = 0
            var keep = order.count
            for (i, p) in probabilities.enumerated() {
                sum += p
                if sum >= settings.topP {
                    keep = i + 1
                    break
                }
            }
            order = Array(order.prefix(keep))
            probabilities = Sampler.softmax(order.map { candidates[$0] })
        }
        if settings.minP > 0, let top = probabilities.first {
            let keep = probabilities.prefix { $0 >= settings.minP * top }.count
            order = Array(order.prefix(max(1, keep)))
        }
        let scaled = Sampler.softmax(order.map { candidates[$0] / settings.temperature })
        let draw = Float(random.nextUnit())
        var cumulative: Float = 0
        for (i, p) in scaled.enumerated() {
            cumulative += p
            if draw < cumulative { return Int32(order[i]) }
        }
        return Int32(order[order.count - 1])
    }

    func applyPenalties<Token: BinaryInteger>(_ logits: inout [Float], history: [Token]) {
        let s = settings
        guard s.penaltyWindow != 0, s.repetitionPenalty != 1 || s.presencePenalty != 0 || s.frequencyPenalty != 0 else { return }
        let window = s.penaltyWindow < 0 ? history[...] : history.suffix(s.penaltyWindow)
        var counts: [Int: Int] = [:]
        for token in window { counts[Int(token), default: 0] += 1 }
        for (token, count) in counts where token >= 0 && token < logits.count {
            var value = logits[token]
            if s.repetitionPenalty != 1 {
                value = value > 0 ? value / s.repetitionPenalty : value * s.repetitionPenalty
            }
            value -= Float(count) * s.frequencyPenalty + s.presencePenalty
            logits[token] = value
        }
    }

    /// The index of the largest value; the lowest index among equals.
    public static func argmax(_ values: [Float]) -> Int32 {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return Int32(best)
    }

    static func softmax(_ logits: [Float]) -> [Float] {
        guard let maximum = logits.max() else { return [] }
        let exps = logits.map { expf($0 - maximum) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
