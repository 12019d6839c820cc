import Foundation
import GGUFFormat
import LocoTestSupport
import Quantization
import Testing

/// The real default model (SmolLM2-135M-Instruct, Q4_1, width 576 so most K-quant tensors fall
/// back), requantized by llama.cpp and by the release-built `loco quantize`: byte-identical files.
/// The release binary is used because a debug build quantizes 135M values too slowly for a test;
/// `scripts/test.sh` builds it first.
@Suite struct SmolLM2QuantizerParityTests {
    static let releaseLoco = Repository.path(".build/release/loco")

    @Test(arguments: QuantizationFileType.allCases)
    func requantizedDefaultModelMatchesLlamaCpp(_ fileType: QuantizationFileType) throws {
        guard let model = Peers.defaultModel, Peers.pythonHas("llama_cpp"),
              FileManager.default.isExecutableFile(atPath: Self.releaseLoco)
        else {
            #expect(!Peers.required, "the default model, llama-cpp-python and a release build of loco are required")
            return
        }
        let theirs = RandomModels.scratch("smollm2-llama-\(fileType.rawValue).gguf")
        let ours = RandomModels.scratch("smollm2-ours-\(fileType.rawValue).gguf")
        defer {
            try? FileManager.default.removeItem(atPath: theirs)
            try? FileManager.default.removeItem(atPath: ours)
        }
        let peer = try run("python3", [Repository.path("scripts/llama_peer.py"), "quantize", model, theirs,
                                       "\(fileType.fileTypeID)", "--allow-requantize", "--threads", "2"])
        try #require(peer.status == 0, "llama.cpp: \(peer.stderr.suffix(2000))")
        let result = try run(Self.releaseLoco, ["quantize", model, ours, fileType.rawValue, "--allow-requantize", "--quiet"])
        try #require(result.status == 0, "loco quantize: \(result.stderr)")
        try ModelQuantizerParityTests.expectSameFiles(ours: ours, theirs: theirs, label: "SmolLM2 \(fileType.rawValue)")
        let decisions = try ModelQuantizer(recipe: QuantizationRecipe(fileType), allowRequantize: true)
            .plan(try GGUFFile(contentsOf: model))
        if fileType.defaultType.blockSize == 256 {
            let fellBack = decisions.contains { $0.fellBack }
            #expect(fellBack, "width 576 should force row-length fallbacks")
        }
    }
}
