import Foundation
import GGUFFormat
import LocoTestSupport
import Testing

/// The reader against gguf-py: committed fixtures with gguf-py's reading beside each, and the real
/// SmolLM2 model read by gguf-py at test time. Equality is exact (floats by bit pattern).
@Suite struct ReaderParityTests {
    static let fixtures = ["value-types.gguf", "align-1.gguf", "align-32.gguf", "align-64.gguf",
                           "tensor-types.gguf", "no-tensors.gguf", "version-2.gguf"]

    @Test(arguments: fixtures)
    func fixtureMatchesGGUFPy(_ name: String) throws {
        let path = Repository.ggufFixture(name)
        let file = try GGUFFile(contentsOf: path)
        let peer = try GGUFPeerDump(json: Data(contentsOf: URL(fileURLWithPath: path + ".json")))
        let differences = peer.differences(from: file)
        #expect(differences.isEmpty, "\(name): \(differences.joined(separator: "\n"))")
        #expect(!peer.fields.isEmpty)
    }

    /// The comparison itself can fail: a changed value, type or tensor offset is reported.
    @Test func comparisonDetectsDifferences() throws {
        let path = Repository.ggufFixture("align-32.gguf")
        let file = try GGUFFile(contentsOf: path)
        let json = try Data(contentsOf: URL(fileURLWithPath: path + ".json"))
        var peer = try GGUFPeerDump(json: json)
        peer.fields[1].value = .text("another name")
        peer.tensors[2].offset += 32
        peer.fields[0].types = ["INT32"]
        #expect(peer.differences(from: file).count == 3)
    }

    /// Every ggml type gguf-py knows has the same block geometry here: the fixture holds one
    /// tensor of each type, two blocks by three rows, and its byte size comes from gguf-py.
    /// (Except Q8_1, where gguf-py's table is stale; it is checked against ggml itself in
    /// QuantizationTests.)
    @Test func everyTypeSizeMatchesGGUFPy() throws {
        let path = Repository.ggufFixture("tensor-types.gguf")
        let peer = try GGUFPeerDump(json: Data(contentsOf: URL(fileURLWithPath: path + ".json")))
        #expect(peer.tensors.count >= 30)
        for tensor in peer.tensors {
            let type = try #require(GGMLType(rawValue: tensor.type_id), "unknown type \(tensor.type)")
            #expect(type.name == tensor.type)
            #expect(type.byteCount(elements: tensor.n_elements) == tensor.n_bytes, "\(tensor.type)")
            #expect(tensor.shape[0] == 2 * type.blockSize, "\(tensor.type) block size")
        }
    }

    @Test func valuesDecodeToTheirTypes() throws {
        let file = try GGUFFile(contentsOf: Repository.ggufFixture("value-types.gguf"))
        let m = file.metadata
        #expect(try m.integer("test.u64", as: UInt64.self) == UInt64.max)
        #expect(try m.integer("test.i8") == -128)
        #expect(try m.string("test.string_unicode") == "héllo wörld ✓ 你好 🦙\n\ttab")
        #expect(try m.float("test.f32") == Double(Float(3.1415927)))
        #expect(try m.bool("test.bool_true"))
        #expect(try m.strings("test.arr_string") == ["a", "", "ĠHello", "<|im_start|>", "🦙"])
        #expect(try m.array("test.arr_i32").integers() == [-1, 0, 1, 2147483647])
        let nested = try m.array("test.arr_nested").values.map { try $0.arrayValue!.integers() }
        #expect(nested == [[1, 2], [3, 4, 5]])
    }

    @Test func typedAccessErrorsNameKeyAndType() throws {
        let m = try GGUFFile(contentsOf: Repository.ggufFixture("value-types.gguf")).metadata
        #expect(throws: GGUFError(.keyNotFound("missing.key"))) { try m.string("missing.key") }
        #expect(throws: GGUFError(.typeMismatch(key: "test.u8", expected: "STRING", found: "UINT8"))) {
            try m.string("test.u8")
        }
        #expect(throws: GGUFError(.valueOutOfRange(key: "test.i8", value: "int8(-128)", expected: "a value that fits UInt32"))) {
            try m.integer("test.i8", as: UInt32.self)
        }
        #expect(throws: GGUFError(.typeMismatch(key: "test.arr_i32", expected: "array of STRING", found: "array of INT32"))) {
            try m.strings("test.arr_i32")
        }
    }

    @Test func defaultModelMatchesGGUFPy() throws {
        guard let model = Peers.defaultModel, Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "the default model and gguf-py are required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let file = try GGUFFile(contentsOf: model)
        let peer = try GGUFPeerDump.fromPeer(path: model)
        let differences = peer.differences(from: file)
        #expect(differences.isEmpty, "\(differences.prefix(20).joined(separator: "\n"))")
        #expect(file.tensors.count == 272)
        #expect(try file.metadata.strings("tokenizer.ggml.tokens").count == 49152)
    }
}
