import Foundation
import GGUFFormat
import LocoTestSupport
import Testing

/// Files our writer produces load in llama.cpp (llama-cpp-python) and mean the same to it.
@Suite struct LlamaPeerTests {
    /// The default model rewritten with alignment 64 (so every tensor moves) and edited metadata:
    /// llama.cpp loads it and computes exactly the same logits as from the original.
    @Test func rewrittenModelGivesLlamaCppTheSameLogits() throws {
        guard let model = Peers.defaultModel, Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "the default model and llama-cpp-python are required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try GGUFFile(contentsOf: model)
        var writer = GGUFWriter(copying: original)
        writer.metadata[GGUFKey.alignment] = .uint32(64)
        writer.metadata[GGUFKey.name] = .string("SmolLM2 rewritten by LocoLLM")
        writer.metadata["loco.test.note"] = .array(GGUFArray(strings: ["written", "by", "GGUFWriter"]))
        let path = dir + "/rewritten.gguf"
        try writer.write(to: path) { tensor, sink in
            try original.tensorData(named: tensor.name).withUnsafeBytes { try sink.write($0) }
        }
        let rewritten = try GGUFFile(contentsOf: path)
        #expect(rewritten.alignment == 64)
        #expect(rewritten.dataOffset != original.dataOffset)

        let load = try run("python3", [Repository.path("scripts/llama_peer.py"), "load", path])
        #expect(load.status == 0, "\(load.stderr)")
        let info = try JSONSerialization.jsonObject(with: load.stdout) as? [String: Any]
        #expect(info?["n_params"] as? Int == original.parameterCount)
        #expect(info?["n_vocab"] as? Int == 49152)

        let compare = try run("python3", [Repository.path("scripts/llama_peer.py"), "same-logits", model, path,
                                          "--tokens", "1,504,3250,28,253,1073,2"])
        #expect(compare.status == 0, "\(compare.stderr)")
        let result = try JSONSerialization.jsonObject(with: compare.stdout) as? [String: Any]
        #expect(result?["max_abs_diff"] as? Double == 0)
        #expect((result?["max_abs_logit"] as? Double ?? 0) > 1)
    }
}
