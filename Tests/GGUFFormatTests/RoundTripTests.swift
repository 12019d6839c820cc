import Foundation
import GGUFFormat
import LocoTestSupport
import Testing

/// Reading a file and writing it back unchanged gives the same bytes; files the writer makes
/// from scratch read back the same here and in gguf-py.
@Suite struct RoundTripTests {
    @Test(arguments: ReaderParityTests.fixtures)
    func fixtureRewritesByteIdentical(_ name: String) throws {
        try expectByteIdenticalRewrite(Repository.ggufFixture(name))
    }

    @Test func defaultModelRewritesByteIdentical() throws {
        guard let model = Peers.defaultModel else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        try expectByteIdenticalRewrite(model)
    }

    /// A file built value by value (every type, empty and nested arrays, several tensor types,
    /// alignment 64, data written in odd-sized pieces) reads back equal, here and in gguf-py.
    @Test func writtenFileReadsBackHereAndInGGUFPy() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/built.gguf"
        var writer = GGUFWriter(metadata: try GGUFMetadata(Self.sampleEntries))
        try writer.addTensor(name: "blk.0.attn_q.weight", shape: [64, 3], type: .q8_0)
        try writer.addTensor(name: "norm", shape: [7], type: .f32)
        try writer.addTensor(name: "k", shape: [256, 2], type: .q4_K)
        try writer.addTensor(name: "empty", shape: [0], type: .f16)
        var produced: [String: [UInt8]] = [:]
        try writer.write(to: path) { tensor, sink in
            var generator = SeededBytes(seed: UInt64(tensor.byteCount))
            let bytes = (0..<tensor.byteCount).map { _ in generator.next() }
            produced[tensor.name] = bytes
            var start = 0
            while start < bytes.count {  // pieces of 1, 2, 4, ... bytes
                let end = min(bytes.count, start + max(1, start))
                try bytes[start..<end].withUnsafeBytes { try sink.write($0) }
                start = end
            }
        }
        let file = try GGUFFile(contentsOf: path)
        #expect(file.metadata == writer.metadata)
        #expect(file.alignment == 64)
        #expect(file.tensors.map(\.name) == ["blk.0.attn_q.weight", "norm", "k", "empty"])
        for tensor in file.tensors {
            #expect(file.tensorData(tensor).withUnsafeBytes { Array($0) } == produced[tensor.name])
            #expect(tensor.offset % 64 == 0)
        }
        guard Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "gguf-py is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let peer = try GGUFPeerDump.fromPeer(path: path)
        let differences = peer.differences(from: file)
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }

    static var sampleEntries: [GGUFMetadataEntry] {
        [
            .init(key: "general.architecture", value: .string("llama")),
            .init(key: "general.alignment", value: .uint32(64)),
            .init(key: "a.u8", value: .uint8(200)),
            .init(key: "a.i8", value: .int8(-3)),
            .init(key: "a.u16", value: .uint16(65000)),
            .init(key: "a.i16", value: .int16(-30000)),
            .init(key: "a.u32", value: .uint32(4_000_000_000)),
            .init(key: "a.i32", value: .int32(-2_000_000_000)),
            .init(key: "a.f32", value: .float32(-0.0)),
            .init(key: "a.bool", value: .bool(true)),
            .init(key: "a.string", value: .string("ünïcødé 🦙")),
            .init(key: "a.u64", value: .uint64(.max)),
            .init(key: "a.i64", value: .int64(.min)),
            .init(key: "a.f64", value: .float64(.infinity)),
            .init(key: "a.strings", value: .array(GGUFArray(strings: ["x", "", "yz"]))),
            .init(key: "a.floats", value: .array(GGUFArray(float32s: [1.5, -2]))),
            .init(key: "a.empty", value: .array(GGUFArray(int32s: []))),
            .init(key: "a.nested", value: .array(GGUFArray(elementType: .array, values: [
                .array(GGUFArray(int32s: [1, 2])), .array(GGUFArray(int32s: [3])),
            ]))),
        ]
    }

    func expectByteIdenticalRewrite(_ path: String) throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let copy = dir + "/copy.gguf"
        try GGUFWriter.rewrite(try GGUFFile(contentsOf: path), to: copy)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let rewritten = try Data(contentsOf: URL(fileURLWithPath: copy))
        #expect(original.count == rewritten.count)
        if original != rewritten {
            let firstDifference = zip(original, rewritten).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            Issue.record("\(path): rewritten file differs, first at byte \(firstDifference ?? min(original.count, rewritten.count))")
        }
    }
}

/// A deterministic byte generator (SplitMix64) for test data.
struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt8 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt8(truncatingIfNeeded: z ^ (z >> 31))
    }
}
