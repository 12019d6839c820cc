import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// `loco inspect` and the `gguf-inspect` example, run as a user runs them.
@Suite struct CommandLineTests {
    let loco = Repository.productsDirectory + "/loco"
    let example = Repository.productsDirectory + "/gguf-inspect"

    @Test func inspectJSONDescribesEveryTensor() throws {
        let path = Repository.ggufFixture("tensor-types.gguf")
        let result = try run(loco, ["inspect", path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
        let tensors = json["tensors"] as! [[String: Any]]
        let peer = try GGUFPeerDump(json: Data(contentsOf: URL(fileURLWithPath: path + ".json")))
        #expect(tensors.map { $0["name"] as! String } == peer.tensors.map(\.name))
        #expect(tensors.map { $0["bytes"] as! Int } == peer.tensors.map(\.n_bytes))
        #expect(tensors.map { $0["type"] as! String } == peer.tensors.map(\.type))
        #expect(json["version"] as? Int == 3)
    }

    @Test func malformedFileExitsOneWithTheErrorOnStderr() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Repository.ggufFixture("align-32.gguf"))))
        bytes[4] = 9  // version 9
        let path = dir + "/bad.gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        for command in [[loco, "inspect"], [example]] {
            let result = try run(command[0], Array(command.dropFirst()) + [path])
            #expect(result.status == 1)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("\(path): at byte 4: unsupported GGUF version 9"), "\(result.stderr)")
        }
    }

    /// An unknown LOCO_CPU_FEATURES is refused before any work, naming the value and the choices;
    /// a known one runs.
    @Test func unknownKernelSetIsRefused() throws {
        let path = Repository.ggufFixture("value-types.gguf")
        let bad = try run(loco, ["inspect", path], environment: ["LOCO_CPU_FEATURES": "avx3"])
        #expect(bad.status == 2)
        #expect(bad.stdout.isEmpty)
        #expect(bad.stderr.contains("LOCO_CPU_FEATURES=avx3 is not a kernel set"), "\(bad.stderr)")
        #expect(bad.stderr.contains("scalar, avx2, avx512, neon, neon-dotprod"), "\(bad.stderr)")
        for set in ["scalar", "avx2", "native"] {
            let good = try run(loco, ["inspect", path], environment: ["LOCO_CPU_FEATURES": set])
            #expect(good.status == 0, "\(set): \(good.stderr)")
        }
    }

    @Test func exampleAndToolPrintTheSameReport() throws {
        let path = Repository.ggufFixture("value-types.gguf")
        let fromTool = try run(loco, ["inspect", path])
        let fromExample = try run(example, [path])
        #expect(fromTool.status == 0 && fromExample.status == 0)
        #expect(fromTool.stdoutText == fromExample.stdoutText)
        #expect(fromTool.stdoutText.contains("test.arr_nested"))
    }

    @Test func inspectTheDefaultModel() throws {
        guard Peers.defaultModel != nil else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let result = try run(loco, ["inspect"])
        #expect(result.status == 0)
        #expect(result.stdoutText.contains("tokenizer.ggml.tokens"))
        #expect(result.stdoutText.contains("49152 items"))
        #expect(result.stdoutText.contains("parameters  134.52 M"))
    }
}

/// `loco quantize` and the `quantize` example on a small random model.
@Suite struct QuantizeCommandTests {
    let loco = Repository.productsDirectory + "/loco"
    let example = Repository.productsDirectory + "/quantize"

    func model() throws -> String? {
        guard Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "gguf-py is required to write the random model (LOCO_REQUIRE_PEERS=1)")
            return nil
        }
        return try RandomModels.path("llama-f32")
    }

    @Test func quantizesAndReports() throws {
        guard let input = try model() else { return }
        let output = RandomModels.scratch("cli-q8.gguf")
        let result = try run(loco, ["quantize", input, output, "q8_0"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText.contains("converted"))
        #expect(result.stderr.contains("blk.0.attn_q.weight"))  // progress lines
        let file = try GGUFFile(contentsOf: output)
        #expect(file.tensor(named: "blk.0.attn_q.weight")?.type == .q8_0)
        #expect(file.tensor(named: "blk.0.attn_norm.weight")?.type == .f32)
        #expect(try file.metadata.integer("general.file_type") == 7)
    }

    @Test func badArgumentsExitOneWithAClearMessage() throws {
        guard let input = try model() else { return }
        let unknown = try run(loco, ["quantize", input, RandomModels.scratch("x.gguf"), "Q9_Z"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("unknown file type 'Q9_Z'"))
        let same = try run(loco, ["quantize", input, input, "Q4_0"])
        #expect(same.status == 1)
        #expect(same.stderr.contains("the output path is the input file"))
        let missing = try run(loco, ["quantize", "/nonexistent/in.gguf", RandomModels.scratch("y.gguf"), "Q4_0"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("/nonexistent/in.gguf"))
    }

    @Test func exampleRequantizes() throws {
        guard let input = try model() else { return }
        let q8 = RandomModels.scratch("ex-q8.gguf"), q4 = RandomModels.scratch("ex-q4.gguf")
        #expect(try run(loco, ["quantize", input, q8, "Q8_0", "--quiet"]).status == 0)
        let result = try run(example, [q8, q4, "Q4_K_M"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText.contains("blk.2.attn_v.weight: Q8_0 -> Q6_K"))
        #expect(try GGUFFile(contentsOf: q4).tensor(named: "blk.0.ffn_up.weight")?.type == .q4_K)
    }
}
