import Foundation
import LocoTestSupport
import Testing

/// Greedy generation on the default model: `loco run --greedy --numerics llama-cpp` (release
/// build, see ``ReleaseParityTests``), which puts the prompt in SmolLM2-135M-Instruct's chat
/// template with our `ChatTemplate` and tokenizer, against llama.cpp's greedy loop on the same
/// prompt ids (prompt in one batch, then one token at a time; F32 KV cache, flash attention off).
///
/// The token ids must be the same. With llama.cpp's float order the prefill's logits are
/// bit-identical with llama.cpp's on Q4_1 (``ReleaseParityTests``), so every argmax is the same
/// unless a decode step's logits differ by more than that step's margin between the two best
/// tokens. When the tokens differ, the failure names the first step that differs and both sides'
/// margins there (ours from a prefill of the same tokens in llama.cpp's order), rather than
/// accepting a shorter common prefix.
@Suite(.serialized) struct ReleaseGenerationParityTests {
    static let prompts = [
        "Explain in one paragraph what a LoRA adapter is.",
        "What is the capital of France?",
        "Write a haiku about the sea.",
        "List three uses of a paperclip.",
    ]
    static let maxTokens = 32

    struct Tokens: Decodable {
        var prompt: [Int]
        var generated: [Int]
    }

    @Test(arguments: prompts)
    func greedyTokensMatchLlamaCpp(_ prompt: String) throws {
        guard ReleaseParityTests.available, let model = Peers.defaultModel else {
            #expect(!Peers.required, "the default model, llama-cpp-python and a release build of loco are required")
            return
        }
        guard Peers.llamaCppOrderIsExact else {
            print("skipped: llama.cpp's order is not reproduced on the \(Peers.kernelSet) kernels, so greedy tokens may part")
            return
        }
        let result = try run(ReleaseParityTests.releaseLoco, [
            "run", prompt, "--model", model, "--greedy", "--numerics", "llama-cpp", "--max-tokens", "\(Self.maxTokens)",
            "--json-tokens",
        ])
        try #require(result.status == 0, "loco run: \(result.stderr)")
        let ours = try JSONDecoder().decode(Tokens.self, from: result.stdout)
        // The chat template with the generation prompt: it starts a user turn and ends by opening
        // the assistant's (`<|im_start|>assistant\n`).
        try #require(ours.prompt.suffix(4) == [1, 520, 9531, 198], "prompt ids \(ours.prompt)")
        let theirs = try LlamaCppPeer.greedy(model: model, tokens: ours.prompt, maxTokens: Self.maxTokens)
        print("greedy, \"\(prompt)\": \(ours.generated.count) tokens, ours == llama.cpp: \(ours.generated == theirs.generated); "
              + "smallest top-2 margin in llama.cpp: \(theirs.top2.map { $0[1] - $0[3] }.min() ?? 0)")
        guard ours.generated != theirs.generated else { return }
        let step = zip(ours.generated, theirs.generated).prefix { $0 == $1 }.count
        var report = "\"\(prompt)\": tokens differ at step \(step): ours \(ours.generated), llama.cpp \(theirs.generated)"
        if step < theirs.top2.count {
            let t = theirs.top2[step]
            report += String(format: "; llama.cpp there: %d (%.4f) over %d (%.4f), margin %.4f",
                             Int(t[0]), t[1], Int(t[2]), t[3], t[1] - t[3])
        }
        if step < ours.generated.count, let row = try? Self.lastLogits(model: model, tokens: ours.prompt + ours.generated[..<step]) {
            let order = row.indices.sorted { row[$0] > row[$1] }
            report += String(format: "; ours there: %d (%.4f) over %d (%.4f), margin %.4f",
                             order[0], row[order[0]], order[1], row[order[1]], row[order[0]] - row[order[1]])
        }
        Issue.record("\(report)")
    }

    /// Our logits after `tokens`, from one prefill in llama.cpp's order.
    static func lastLogits(model: String, tokens: [Int]) throws -> [Float] {
        let logits = try ReleaseParityTests.loco(model, tokens: tokens, ReleaseParityTests.Run(numerics: "llama-cpp"))
        return Array(logits.suffix(49152))
    }
}
