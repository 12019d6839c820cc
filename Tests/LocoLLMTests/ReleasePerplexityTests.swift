import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// `loco eval perplexity` and `loco eval kld` against llama.cpp's method computed from llama.cpp's
/// own logits (scripts/perplexity_peer.py through llama-cpp-python), on the default model and a
/// Q4_0 requantization of it, through the release build.
///
/// In llama.cpp's float order (`--numerics llama-cpp`, on the kernel sets that reproduce it) the
/// logits are bit-identical, so perplexity and mean KLD agree to float64 rounding (1e-9
/// relative) and top-1 agreement exactly. In the fast order the logits differ in their last
/// bits; the perplexity measured 0.1-0.8% under llama.cpp's (ours lower on every text tried,
/// which is worth understanding: the llama-cpp order matches exactly), so it is held to 2% here
/// (a wrong mask, position or chunking errs by far more) and the exact comparison is the
/// llama-cpp order's.
@Suite(.serialized) struct ReleasePerplexityTests {
    static var releaseLoco: String {
        ProcessInfo.processInfo.environment["LOCO_RELEASE_LOCO"] ?? Repository.path(".build/release/loco")
    }

    static var available: Bool {
        let ready = Peers.defaultModel != nil && Peers.pythonHas("llama_cpp") && FileManager.default.isExecutableFile(atPath: releaseLoco)
        if !ready {
            print("skipped: ReleasePerplexityTests need the default model, llama-cpp-python and .build/release/loco")
            #expect(!Peers.required, "the default model, llama-cpp-python and the release loco are required (LOCO_REQUIRE_PEERS=1)")
        }
        return ready
    }

    /// Some of the project's own prose: any text works, both sides read the same file.
    static func text(bytes: Int) throws -> String {
        let path = RandomModels.scratch("perplexity-\(bytes).txt")
        var text = ""
        for name in ["Routing", "Training", "Inference", "Quantization"] {
            text += try String(contentsOfFile: Repository.path("Documentation/\(name).md"), encoding: .utf8)
        }
        try String(decoding: text.utf8.prefix(bytes), as: UTF8.self).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func json(_ executable: String, _ arguments: [String]) throws -> [String: Any] {
        let result = try run(executable, arguments)
        try #require(result.status == 0, "\(arguments.prefix(2)): \(result.stderr.suffix(2000))")
        return try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
    }

    func relative(_ a: Any?, _ b: Any?) -> Double {
        let x = a as! Double, y = b as! Double
        return abs(x - y) / abs(y)
    }

    @Test func perplexityAndDivergenceFollowLlamaCppsMethod() throws {
        guard Self.available, let model = Peers.defaultModel else { return }
        let peer = Repository.path("scripts/perplexity_peer.py")
        let short = try Self.text(bytes: 1200)
        defer { try? FileManager.default.removeItem(atPath: short) }
        let q4_0 = RandomModels.scratch("perplexity-q4_0.gguf")
        defer { try? FileManager.default.removeItem(atPath: q4_0) }
        let quantized = try run(Self.releaseLoco, ["quantize", model, q4_0, "Q4_0", "--allow-requantize", "--quiet"])
        try #require(quantized.status == 0, "\(quantized.stderr)")

        let theirs = try json("python3", [peer, "kld", q4_0, model, short, "--ctx", "64"])
        let theirPerplexity = try json("python3", [peer, "perplexity", model, short, "--ctx", "64"])
        if Peers.llamaCppOrderIsExact {
            let ours = try json(Self.releaseLoco, ["eval", "kld", "--model", q4_0, "--reference", model, "--text", short, "--ctx", "64",
                                                   "--numerics", "llama-cpp", "--json"])
            print("kld (llama-cpp order): ours \(ours["mean_kld"]!) / \(ours["top1_agreement"]!), llama.cpp \(theirs["mean_kld"]!) / \(theirs["top1_agreement"]!)")
            #expect(ours["tokens_scored"] as? Int == theirs["tokens_scored"] as? Int)
            #expect(relative(ours["mean_kld"], theirs["mean_kld"]) < 1e-9)
            #expect(ours["top1_agreement"] as? Double == theirs["top1_agreement"] as? Double)
            #expect(relative(ours["perplexity"], theirs["perplexity"]) < 1e-9)
            #expect(relative(ours["reference_perplexity"], theirs["reference_perplexity"]) < 1e-9)
            let plain = try json(Self.releaseLoco, ["eval", "perplexity", "--model", model, "--text", short, "--ctx", "64",
                                                    "--numerics", "llama-cpp", "--json"])
            #expect(relative(plain["perplexity"], theirPerplexity["perplexity"]) < 1e-9)
            #expect(plain["text_tokens"] as? Int == theirPerplexity["text_tokens"] as? Int)
        } else {
            print("skipped the exact checks: llama.cpp's order is not reproduced on the \(Peers.kernelSet) kernels")
        }

        let long = try Self.text(bytes: 4000)
        defer { try? FileManager.default.removeItem(atPath: long) }
        let ours = try json(Self.releaseLoco, ["eval", "perplexity", "--model", model, "--text", long, "--ctx", "128", "--json"])
        let reference = try json("python3", [peer, "perplexity", model, long, "--ctx", "128"])
        print("perplexity (fast order): ours \(ours["perplexity"]!), llama.cpp \(reference["perplexity"]!) over \(ours["tokens_scored"]!) tokens")
        #expect(ours["tokens_scored"] as? Int == reference["tokens_scored"] as? Int)
        #expect(relative(ours["perplexity"], reference["perplexity"]) < 0.02)
    }

    /// A text too short for two chunks, or a file that is not UTF-8, is refused by name.
    @Test func badTextIsRefused() throws {
        guard Self.available, let model = Peers.defaultModel else { return }
        let path = RandomModels.scratch("perplexity-bad.txt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "Too short.".write(toFile: path, atomically: true, encoding: .utf8)
        var result = try run(Self.releaseLoco, ["eval", "perplexity", "--model", model, "--text", path, "--ctx", "64"])
        #expect(result.status == 1 && result.stderr.contains("at least 2 x ctx = 128"), "\(result.stderr)")
        try Data([0x66, 0xFF, 0xFE, 0x67]).write(to: URL(fileURLWithPath: path))
        result = try run(Self.releaseLoco, ["eval", "perplexity", "--model", model, "--text", path, "--ctx", "64"])
        #expect(result.status == 1 && result.stderr.contains("is not UTF-8"), "\(result.stderr)")
    }
}
