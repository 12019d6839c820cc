import Foundation
import Inference
import LocoTestSupport
import Testing
import Evaluation
import Tensor

/// The benchmark `loco bench` prints: the result's JSON keys (a contract with
/// Benchmarks/inference_peer_bench.py), the CPU name, and a real run on a tiny model.
@Suite struct SpeedProbeTests {
    static let alwaysKeys: Set<String> = [
        "model", "threads", "prompt_tokens", "gen_tokens", "prefill_tokens_per_second", "decode_tokens_per_second",
        "peak_rss_bytes", "weight_bytes", "adapter_count", "kernels", "cpu",
    ]
    static let adapterKeys: Set<String> = [
        "adapter_load_seconds", "adapter_attach_seconds", "adapter_switch_seconds",
        "bare_prefill_tokens_per_second", "bare_decode_tokens_per_second",
    ]

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func jsonKeys() throws {
        var result = BenchResult(model: "/models/a \"b\".gguf", threads: 2, promptTokens: 512, genTokens: 128,
                                 prefillTokensPerSecond: 1000.5, decodeTokensPerSecond: 50.25, peakRSSBytes: 123_456_789,
                                 weightBytes: 100_000_000, kernels: "avx2", cpu: "Some CPU")
        let bare = try Self.object(try result.jsonText())
        #expect(Set(bare.keys) == Self.alwaysKeys)
        #expect(bare["model"] as? String == "/models/a \"b\".gguf")
        #expect((bare["prefill_tokens_per_second"] as? NSNumber)?.doubleValue == 1000.5)
        #expect((bare["peak_rss_bytes"] as? NSNumber)?.intValue == 123_456_789)
        #expect(bare["kernels"] as? String == "avx2" && bare["cpu"] as? String == "Some CPU")
        result.adapterCount = 2
        result.adapterLoadSeconds = 0.01
        result.adapterAttachSeconds = 0.002
        result.adapterSwitchSeconds = 1e-6
        result.barePrefillTokensPerSecond = 1100
        result.bareDecodeTokensPerSecond = 55
        let text = try result.jsonText()
        #expect(Set(try Self.object(text).keys) == Self.alwaysKeys.union(Self.adapterKeys))
        // Keys sorted, slashes as they are, and the result reads back.
        #expect(text.hasPrefix("{\n  \"adapter_attach_seconds\""))
        #expect(text.contains("\"model\" : \"/models/a \\\"b\\\".gguf\""))
        #expect(try JSONDecoder().decode(BenchResult.self, from: Data(text.utf8)) == result)
    }

    @Test func cpuName() {
        #expect(CPUInfo.modelName(cpuinfo: "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n") == "AMD EPYC 7B13")
        #expect(CPUInfo.modelName(cpuinfo: "processor : 0\nModel : Raspberry Pi 5\n") == "Raspberry Pi 5")
        #expect(CPUInfo.modelName(cpuinfo: "processor : 0\n") == "unknown")
        #expect(CPUInfo.modelName(cpuinfo: nil) == "unknown")
        #expect(!CPUInfo.modelName.isEmpty)
    }

    @Test func measuresATinyModel() throws {
        let path = try TinyModel().write()
        var configuration = SpeedProbe.Configuration()
        configuration.promptTokens = 8
        configuration.genTokens = 4
        configuration.repetitions = 2
        configuration.threads = 1
        let result = try SpeedProbe(configuration).run(modelAt: path)
        #expect(result.model == path && result.threads == 1 && result.promptTokens == 8 && result.genTokens == 4)
        #expect(result.prefillTokensPerSecond > 0 && result.prefillTokensPerSecond.isFinite)
        #expect(result.decodeTokensPerSecond > 0 && result.decodeTokensPerSecond.isFinite)
        #expect(result.peakRSSBytes > 0)
        #expect(result.weightBytes == (try Model(contentsOf: path)).file.tensors.reduce(0) { $0 + $1.byteCount })
        #expect(result.adapterCount == 0 && result.adapterLoadSeconds == nil && result.barePrefillTokensPerSecond == nil)
        #expect(result.kernels == KernelSet.running.rawValue)
    }

    /// A long conversation on the tiny model (context 64): 5 turns of 4 + 4 tokens in one session,
    /// the resident memory read after each, the KV cache's bytes at the end (2 blocks, 2 KV
    /// heads of 8, F32, its capacity the 40 positions asked for), and the drift from them.
    @Test func chatTurnsReadTheMemoryAfterEachTurn() throws {
        let path = try TinyModel().write()
        var configuration = SpeedProbe.Configuration()
        configuration.promptTokens = 4
        configuration.genTokens = 2
        configuration.repetitions = 1
        configuration.threads = 1
        configuration.chatTurns = 5
        configuration.chatPromptTokens = 4
        configuration.chatReplyTokens = 4
        let result = try SpeedProbe(configuration).run(modelAt: path)
        let turns = try #require(result.chatRSSByTurnBytes)
        #expect(turns.count == 5 && turns.allSatisfy { $0 > 0 })
        #expect(result.chatRSSDriftBytes == turns[4] - turns[0])
        #expect(result.chatKVCacheBytes == 2 * 2 * 40 * 16 * 2)  // K and V, 2 blocks, 40 positions, 16 wide, F16
        let keys = Set(try Self.object(try result.jsonText()).keys)
        #expect(keys == Self.alwaysKeys.union(["chat_rss_by_turn_bytes", "chat_kv_cache_bytes"]))
        // Turns that would not fit the context are not run.
        configuration.chatTurns = 20
        #expect(try SpeedProbe(configuration).run(modelAt: path).chatRSSByTurnBytes?.count == 8)
    }

    @Test func mathReportKeys() throws {
        let report = MathEvaluation.Report(accuracy: 0.5, correct: 1, total: 2, model: "/m/x.gguf", adapters: ["math-v1"],
                                           generatedTokens: 30, seconds: 1.25)
        let text = try report.jsonText()
        #expect(text == "{\"accuracy\":0.5,\"adapters\":[\"math-v1\"],\"correct\":1,\"generated_tokens\":30,"
                + "\"model\":\"/m/x.gguf\",\"seconds\":1.25,\"total\":2}")
    }
}
