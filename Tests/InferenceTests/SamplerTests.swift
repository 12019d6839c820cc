import Inference
import Testing

@Suite struct SamplerTests {
    let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 3.0, 0.5]

    @Test func greedyTakesTheFirstLargest() {
        var sampler = Sampler(.greedy)
        #expect(sampler.sample(logits: logits) == 1)
    }

    @Test func repetitionPenaltyChangesTheGreedyChoice() {
        var settings = SamplerSettings.greedy
        settings.repetitionPenalty = 1.5
        var sampler = Sampler(settings)
        // Tokens 1 and 4 (3.0 each) were just seen: 3.0 / 1.5 = 2.0 < 2.5.
        #expect(sampler.sample(logits: logits, history: [Int32(1), 4]) == 2)
        settings.repetitionPenalty = 1
        settings.presencePenalty = 0.25
        settings.frequencyPenalty = 0.5
        var other = Sampler(settings)
        // Token 1 seen twice: 3.0 - 0.25 - 1.0 = 1.75; token 4 stays 3.0.
        #expect(other.sample(logits: logits, history: [Int32(1), 1]) == 4)
    }

    @Test func sameSeedSameTokensAndSeedsDiffer() {
        let settings = SamplerSettings(temperature: 1.5, topK: 0, topP: 1, minP: 0, seed: 7)
        var a = Sampler(settings), b = Sampler(settings)
        let first = (0..<200).map { _ in a.sample(logits: logits) }
        let second = (0..<200).map { _ in b.sample(logits: logits) }
        #expect(first == second)
        var c = Sampler(SamplerSettings(temperature: 1.5, topK: 0, topP: 1, minP: 0, seed: 8))
        #expect((0..<200).map { _ in c.sample(logits: logits) } != first)
        #expect(Set(first).count >= 4)  // a hot temperature really samples
    }

    @Test func topKTopPAndMinPRestrictTheChoices() {
        var topK = Sampler(SamplerSettings(temperature: 5, topK: 2, topP: 1, minP: 0, seed: 1))
        #expect(Set((0..<300).map { _ in topK.sample(logits: logits) }) == [1, 4])
        // Probabilities at T=1 are about 0.34, 0.34, 0.21, ...; top-p 0.6 keeps the first two.
        var topP = Sampler(SamplerSettings(temperature: 5, topK: 0, topP: 0.6, minP: 0, seed: 1))
        #expect(Set((0..<300).map { _ in topP.sample(logits: logits) }) == [1, 4])
        // min-p 0.5 keeps tokens at least half as likely as the best: 1, 4 and 2 (e^-0.5 = 0.61).
        var minP = Sampler(SamplerSettings(temperature: 5, topK: 0, topP: 1, minP: 0.5, seed: 1))
        #expect(Set((0..<300).map { _ in minP.sample(logits: logits) }) == [1, 2, 4])
    }

    @Test func samplingFollowsTheProbabilities() {
        // Two tokens with logits ln 3 and 0: probabilities 0.75 and 0.25 at temperature 1.
        var sampler = Sampler(SamplerSettings(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 3))
        let draws = (0..<20_000).map { _ in sampler.sample(logits: [Float(1.0986123), 0]) }
        let share = Double(draws.filter { $0 == 0 }.count) / 20_000
        #expect(abs(share - 0.75) < 0.015)
    }
}
