import Foundation
import GGUFFormat
import LocoTestSupport
import Quantization
import Testing

/// Q2_K...Q6_K against ggml, with no tolerance: quantized bytes identical to ggml's
/// `quantize_row_q*_K_ref` (what `ggml_quantize_chunk` and llama.cpp's quantizer run without an
/// importance matrix), dequantized floats identical bit for bit to `dequantize_row_q*_K`. The codecs
/// repeat ggml's float operations in order, so any difference is a bug, not rounding noise.
///
/// Oracles: the committed fixtures of `scripts/make-quant-fixtures.py` (every distribution there,
/// from all-zero and denormal rows to values near `Float.greatestFiniteMagnitude`), and ggml itself
/// through `scripts/ggml_peer.py` on fresh random rows and random block bytes when llama-cpp-python
/// is installed. Checking helpers are `BlockFormatTests`'.
@Suite struct KQuantTests {
    static let types: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    @Test(arguments: types) func fixturesMatchGGML(_ type: GGMLType) throws {
        let fixtures = try BlockFormatTests.Fixtures.load()
        let entry = try #require(fixtures.index.types[type.name], Comment(rawValue: "\(type) has no fixtures; rerun scripts/make-quant-fixtures.py"))
        #expect(type.blockSize == entry.block_size && type.blockBytes == entry.block_bytes)
        let codec = try BlockFormatTests.codec(entry)
        let input = try fixtures.floats(fixtures.index.input)
        let mismatches = BlockFormatTests.compare(
            codec, blockSize: entry.block_size, blockBytes: entry.block_bytes, input: input,
            bytes: try fixtures.bytes(entry.quantized), floats: try entry.dequantized.map { try fixtures.floats($0) },
            rowLength: fixtures.index.n_per_row, rowName: { fixtures.index.rows[$0].description })
        #expect(entry.dequantized != nil)
        #expect(mismatches.isEmpty, "\(type):\n\(mismatches.joined(separator: "\n"))")
    }

    /// ggml quantizes fresh random rows (a new seed every run, printed on failure).
    @Test func freshRandomRowsMatchGGML() throws {
        guard Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "llama-cpp-python is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let seed = UInt64.random(in: 0 ... .max)
        let rows = 32, rowLength = 1024
        let input = BlockFormatTests.randomRows(rows, rowLength, seed: seed)
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try input.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir + "/input.f32")) }
        let result = try run("python3", [Repository.path("scripts/ggml_peer.py"), "batch", "\(rowLength)",
                                         dir + "/input.f32", dir] + Self.types.map(\.name))
        try #require(result.status == 0, "ggml_peer.py batch failed: \(result.stderr)")
        let peer = BlockFormatTests.Fixtures(directory: dir, index: try BlockFormatTests.Fixtures.load().index)
        for type in Self.types {
            let codec = try #require(BlockCodec.format(for: type))
            let mismatches = BlockFormatTests.compare(
                codec, blockSize: type.blockSize, blockBytes: type.blockBytes, input: input,
                bytes: try peer.bytes(type.name + ".q"), floats: try peer.floats(type.name + ".f32"),
                rowLength: rowLength, rowName: { "random row \($0)" })
            #expect(mismatches.isEmpty, "\(type), seed \(seed):\n\(mismatches.joined(separator: "\n"))")
        }
    }

    /// Blocks of random bytes (every scale and level pattern, NaN, infinite and subnormal halves)
    /// decode exactly as ggml decodes them.
    @Test func randomBlockBytesDequantizeAsGGML() throws {
        guard Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "llama-cpp-python is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let seed = UInt64.random(in: 0 ... .max)
        var state = seed
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var blocks: [GGMLType: [UInt8]] = [:]
        for type in Self.types {
            blocks[type] = (0 ..< 64 * type.blockBytes).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            try Data(blocks[type]!).write(to: URL(fileURLWithPath: dir + "/\(type.name).q"))
        }
        // One interpreter for all types: ggml_peer.dequantize on DIR/TYPE.q into DIR/TYPE.f32.
        let script = """
            import sys, numpy as np
            sys.path.insert(0, sys.argv[1])
            import ggml_peer
            for name in sys.argv[3:]:
                q = np.fromfile(f"{sys.argv[2]}/{name}.q", dtype=np.uint8)
                ggml_peer.dequantize(name, q).tofile(f"{sys.argv[2]}/{name}.f32")
            """
        let result = try run("python3", ["-c", script, Repository.path("scripts"), dir] + Self.types.map(\.name))
        try #require(result.status == 0, "ggml_peer.dequantize failed: \(result.stderr)")
        let peer = BlockFormatTests.Fixtures(directory: dir, index: try BlockFormatTests.Fixtures.load().index)
        for type in Self.types {
            let expected = try peer.floats(type.name + ".f32")
            let ours = try BlockCodec.dequantize(type, blocks[type]!)
            let wrong = (0 ..< min(ours.count, expected.count)).filter { ours[$0].bitPattern != expected[$0].bitPattern }
            #expect(ours.count == expected.count && wrong.isEmpty,
                    "\(type), seed \(seed): \(wrong.count) values differ, first at \(wrong.first ?? -1)")
        }
    }
}
