import Foundation
import GGUFFormat
import Inference
import LocoTestSupport
import Testing
@testable import Evaluation

/// Base-model selection without running models: the hard requirements read from files, the
/// memory estimate's parts, the ranking and its reasons, and the report's sections. (The whole
/// selection on a real model: `ReleaseSuiteTests.selectRanksCandidatesEndToEnd`.)
@Suite struct SelectionTests {
    static func tiny(license: String?, template: Bool = false) throws -> (String, GGUFFile, Model) {
        var tiny = TinyModel(width: 32, ffn: 64, layers: 2, heads: 4, kvHeads: 2, vocab: 40, context: 64)
        tiny.editMetadata = { m in
            if let license { m["general.license"] = .string(license) }
            if template { m["tokenizer.chat_template"] = .string("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}") }
        }
        let path = try tiny.write(seed: 3)
        let file = try GGUFFile(contentsOf: path)
        return (path, file, try Model(file: file))
    }

    @Test func memoryEstimateAddsItsParts() throws {
        let (_, file, model) = try Self.tiny(license: "mit")
        let e = BaseModelSelection.memoryEstimate(model: model, file: file, context: 1000, rank: 8, targets: 4)
        #expect(e.weightBytes == file.tensors.reduce(0) { $0 + $1.byteCount })  // Q8_0 and F32: nothing widened
        #expect(e.kvCacheBytes == 2 * 2 * 16 * 1000 * 2)  // K and V, 2 blocks, 2 KV heads of 8, F16
        // q and o: 32 + 32 each; k and v: 32 + 16 each; rank 8, 2 blocks, F32.
        #expect(e.adapterBytes == 8 * 2 * (64 + 48 + 48 + 64) * 4)
        #expect(e.runtimeBytes == BaseModelSelection.runtimeBytes)
        #expect(e.totalBytes == e.weightBytes + e.kvCacheBytes + e.adapterBytes + e.runtimeBytes)
        #expect(BaseModelSelection.memoryEstimate(model: model, file: file, context: 1000, rank: 8, targets: 1).adapterBytes == 8 * 2 * 64 * 4)
    }

    @Test func hardRequirementsComeFromTheFile() throws {
        var configuration = BaseModelSelection.Configuration(candidates: [])
        configuration.context = 64
        let (path, file, model) = try Self.tiny(license: "Apache-2.0", template: true)
        let good = BaseModelSelection.requirements(.init(path: path), file: file, model: model, configuration: configuration)
        #expect(good.requirementsMet, "\(good.failures)")
        #expect(good.license == "Apache-2.0" && good.chatTemplate == "the file's" && good.architecture == "llama")

        let (basePath, baseFile, baseModel) = try Self.tiny(license: "cc-by-nc-4.0")
        let base = BaseModelSelection.requirements(.init(path: basePath), file: baseFile, model: baseModel, configuration: configuration)
        #expect(base.failures.count == 2)
        #expect(base.failures[0].contains("licence 'cc-by-nc-4.0' is not among the accepted"))
        #expect(base.failures[1].contains("no chat template (a base model)"))
        let named = BaseModelSelection.requirements(.init(path: basePath, chatTemplate: "chatml"), file: baseFile, model: baseModel,
                                                    configuration: configuration)
        #expect(named.chatTemplate == "chatml (named: the file has none, a base model)" && named.failures.count == 1)

        let (unlicensedPath, unlicensedFile, unlicensedModel) = try Self.tiny(license: nil, template: true)
        configuration.availableBytes = 1000
        let small = BaseModelSelection.requirements(.init(path: unlicensedPath), file: unlicensedFile, model: unlicensedModel,
                                                    configuration: configuration)
        #expect(small.failures.count == 2)
        #expect(small.failures[0] == "the file names no licence (general.license)")
        #expect(small.failures[1].contains("at 64 tokens of context, more than the 0.00 GB a model may use"))
    }

    static func candidate(_ name: String, fails: Bool = false, base: Double, adapter: Double?, decode: Double) -> SelectionCandidate {
        var c = SelectionCandidate(path: "/m/\(name).gguf", name: name, architecture: "llama", parameters: 1, fileBytes: 1, bitsPerWeight: 4)
        c.baseScores = ["math": base]
        if let adapter { c.adapterScores = ["math": adapter] }
        c.decodeTokensPerSecond = decode
        if fails { c.failures = ["licence 'x' is not among the accepted (mit)"] }
        return c
    }

    @Test func rankingPutsRequirementsFirstThenScoreThenSpeed() {
        let ranked = SelectionReport.ranked([
            Self.candidate("a", fails: true, base: 0.9, adapter: 0.9, decode: 100),
            Self.candidate("b", base: 0.1, adapter: 0.5, decode: 50),
            Self.candidate("c", base: 0.4, adapter: 0.5, decode: 80),
            Self.candidate("d", base: 0.6, adapter: 0.3, decode: 200),
        ])
        #expect(ranked.map(\.name) == ["c", "b", "d", "a"])
        #expect(ranked.map(\.rank) == [1, 2, 3, 4])
        #expect(ranked[0].reason.contains("tied with b at 50.0%; faster decode, 80.0 tok/s against 50.0 tok/s"))
        #expect(ranked[2].reason == "mean score with the quick adapter 30.0%, below b's 50.0%")
        #expect(ranked[3].reason.hasPrefix("excluded by the hard requirements: licence 'x'"))
        // Without adapters the base scores rank.
        let bare = SelectionReport.ranked([Self.candidate("x", base: 0.2, adapter: nil, decode: 1), Self.candidate("y", base: 0.7, adapter: nil, decode: 1)])
        #expect(bare.map(\.name) == ["y", "x"] && bare[0].reason == "highest mean score: 70.0% against 20.0% for x")
    }

    @Test func reportShowsEveryCriterion() throws {
        var a = Self.candidate("a", base: 0.2, adapter: 0.6, decode: 90)
        a.estimate = MemoryEstimate(context: 4096, weightBytes: 100_000_000, kvCacheBytes: 50_000_000, adapterBytes: 5_000_000, runtimeBytes: 1_000_000)
        a.quickAdapter = QuickAdapter(losses: [2, 1, 0.4], stepsToTarget: 3, finalLoss: 0.4, adapterPath: "/a/adapter.gguf", adapterBytes: 3_000_000, seconds: 12)
        a.energy = EnergyMeter.Reading(joules: 3, method: .estimated, wattsPerCore: 7.5, cpuSeconds: 0.4)
        a.joulesPerToken = 0.01
        a.peakRSSBytes = 140_000_000
        a.probeInChildProcess = true
        a.chatTurns = 50
        a.chatRSSDriftBytes = 2_000_000
        a.chatKVCacheBytes = 12_000_000
        let report = SelectionReport(cpu: "cpu", kernels: "avx2", threads: 2, context: 4096, laptopBytes: 8 << 30, availableBytes: 5 << 30,
                                     licenses: ["mit"], suites: ["math"], targetLoss: 0.5,
                                     candidates: SelectionReport.ranked([a, Self.candidate("b", fails: true, base: 0, adapter: nil, decode: 1)]))
        let text = report.markdown()
        for part in ["## Ranking", "## 1. Hard requirements", "## 2. Base suite and 3. the quick adapter", "## 4. On this machine",
                     "0.16 GB (weights 100 MB, KV 50 MB, adapter 5 MB, runtime 1 MB)", "| 3 of 3 | 0.400 | 3 MB | 12 s |",
                     "energy: **estimated**", "7.5 W per busy core", "Each probe ran in a child process", "| 20.0% | 60.0% |", "| 2 MB over 50 turns (12 MB) |"] {
            #expect(text.contains(part), "\(part)")
        }
        let decoded = try JSONDecoder().decode(SelectionReport.self, from: Data(try report.jsonText().utf8))
        #expect(decoded == report)
        #expect(try report.jsonText().contains("\"total_bytes\":156000000"))
    }
}
