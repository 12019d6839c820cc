import Foundation
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
