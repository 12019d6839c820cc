import Foundation
import GGUFFormat
import LocoTestSupport
import Quantization
import Testing

/// The 32-value formats, Q8_K and the ternary formats against ggml, with no tolerance: quantized
/// bytes must be identical and dequantized floats identical bit for bit (signed zeros and NaNs
/// included), because the codecs copy ggml's reference code operation for operation.
///
/// Two oracles: the committed fixtures (`scripts/make-quant-fixtures.py`: ggml's reference
/// quantizer and dequantizer on rows of normal, uniform, heavy-tailed, near-ternary, tie, zero,
/// tiny/denormal, huge and truncation-boundary values), and ggml itself through
/// `scripts/ggml_peer.py` on fresh random rows when llama-cpp-python is installed.
@Suite struct BlockFormatTests {
    static let types = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q8_K", "TQ1_0", "TQ2_0"]

    @Test(arguments: types) func fixturesMatchGGML(_ name: String) throws {
        let fixtures = try Fixtures.load()
        let entry = try #require(fixtures.index.types[name], Comment(rawValue: "\(name) has no fixtures; rerun scripts/make-quant-fixtures.py"))
        let codec = try Self.codec(entry)
        let input = try fixtures.floats(fixtures.index.input)
        let bytes = try fixtures.bytes(entry.quantized)
        let floats = try entry.dequantized.map { try fixtures.floats($0) }
        let mismatches = Self.compare(codec, blockSize: entry.block_size, blockBytes: entry.block_bytes,
                                      input: input, bytes: bytes, floats: floats, rowLength: fixtures.index.n_per_row,
                                      rowName: { fixtures.index.rows[$0].description })
        #expect(mismatches.isEmpty, Comment(rawValue: "\(name):\n" + mismatches.joined(separator: "\n")))
        #expect(input.count == fixtures.index.rows.count * fixtures.index.n_per_row)
    }

    /// ggml's bytes per block against `GGMLType.blockBytes`, which sizes buffers in `BlockCodec`.
    @Test func blockSizesAreGGMLs() throws {
        let fixtures = try Fixtures.load()
        for name in Self.types {
            let entry = try #require(fixtures.index.types[name])
            let type = try #require(GGMLType(rawValue: entry.ggml_type))
            #expect(type.blockSize == entry.block_size, "\(name)")
            #expect(type.blockBytes == entry.block_bytes, "\(name)")
        }
    }

    /// ggml (llama-cpp-python's libggml) quantizes fresh random rows (a new seed every run, printed
    /// on failure); every byte and float agrees.
    @Test func freshRandomRowsMatchGGML() throws {
        guard Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "llama-cpp-python is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let seed = UInt64.random(in: 0 ... .max)
        let rows = 64, rowLength = 4096
        let input = Self.randomRows(rows, rowLength, seed: seed)
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try input.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir + "/input.f32")) }
        let result = try run("python3", [Repository.path("scripts/ggml_peer.py"), "batch", "\(rowLength)",
                                         dir + "/input.f32", dir] + Self.types)
        try #require(result.status == 0, "ggml_peer.py batch failed: \(result.stderr)")
        let fixtures = try Fixtures.load()
        let peer = Fixtures(directory: dir, index: fixtures.index)
        for name in Self.types {
            let entry = try #require(fixtures.index.types[name])
            let codec = try Self.codec(entry)
            let bytes = try peer.bytes(name + ".q")
            let floats = entry.dequantized == nil ? nil : try peer.floats(name + ".f32")
            let mismatches = Self.compare(codec, blockSize: entry.block_size, blockBytes: entry.block_bytes,
                                          input: input, bytes: bytes, floats: floats, rowLength: rowLength,
                                          rowName: { "random row \($0)" })
            #expect(mismatches.isEmpty, Comment(rawValue: "\(name), seed \(seed):\n" + mismatches.joined(separator: "\n")))
        }
    }

    /// Blocks of random bytes (NaN, infinite and subnormal scales, every quant pattern) decode
    /// exactly as ggml decodes them. Q8_1 is left out: ggml has no Q8_1 dequantizer.
    @Test func randomBlockBytesDequantizeAsGGML() throws {
        guard Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "llama-cpp-python is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let seed = UInt64.random(in: 0 ... .max)
        var state = seed
        let fixtures = try Fixtures.load()
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = Self.types.filter { $0 != "Q8_1" }
        var blocks: [String: [UInt8]] = [:]
        for name in names {
            let entry = try #require(fixtures.index.types[name])
            blocks[name] = (0 ..< 8192 / entry.block_size * entry.block_bytes).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            try Data(blocks[name]!).write(to: URL(fileURLWithPath: dir + "/\(name).q"))
        }
        let result = try run("python3", [Repository.path("scripts/ggml_peer.py"), "dequantize"]
                             + names.flatMap { [$0, dir + "/\($0).q", dir + "/\($0).f32"] })
        try #require(result.status == 0, "ggml_peer.py dequantize failed: \(result.stderr)")
        let peer = Fixtures(directory: dir, index: fixtures.index)
        for name in names {
            let entry = try #require(fixtures.index.types[name])
            let codec = try Self.codec(entry)
            let expected = try peer.floats(name + ".f32")
            var ours = [Float](repeating: 0, count: 8192)
            blocks[name]!.withUnsafeBytes { q in
                ours.withUnsafeMutableBufferPointer { codec.dequantize(q.baseAddress!, $0.baseAddress!, blocks: 8192 / entry.block_size) }
            }
            let wrong = (0 ..< min(ours.count, expected.count)).filter { ours[$0].bitPattern != expected[$0].bitPattern }
            #expect(expected.count == ours.count && wrong.isEmpty,
                    "\(name), seed \(seed): \(wrong.count) values differ, first at \(wrong.first ?? -1)")
        }
    }

    /// ggml has no Q8_1 dequantizer; its blocks are Q8_0's `d` and quants plus `s` (checked byte for
    /// byte by the quantize fixtures), so they must decode to ggml's Q8_0 floats.
    @Test func q8_1IsQ8_0PlusTheScaledSum() throws {
        let fixtures = try Fixtures.load()
        let q8_0 = try fixtures.bytes("Q8_0.q"), q8_1 = try fixtures.bytes("Q8_1.q")
        let blocks = q8_0.count / 34
        try #require(q8_1.count == blocks * GGMLType.q8_1.blockBytes)
        let sameScaleAndQuants = (0..<blocks).allSatisfy { b in
            q8_1[36 * b ..< 36 * b + 2].elementsEqual(q8_0[34 * b ..< 34 * b + 2])
                && q8_1[36 * b + 4 ..< 36 * b + 36].elementsEqual(q8_0[34 * b + 2 ..< 34 * b + 34])
        }
        #expect(sameScaleAndQuants)
        var ours = [Float](repeating: 0, count: blocks * 32)
        q8_1.withUnsafeBytes { q in ours.withUnsafeMutableBufferPointer { Q8_1Format.dequantize(q.baseAddress!, $0.baseAddress!, blocks: blocks) } }
        let expected = try fixtures.floats("Q8_0.f32")
        #expect(ours.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    // MARK: - Helpers

    /// The registered codec for a fixture type (so registration is checked too).
    static func codec(_ entry: Fixtures.TypeEntry) throws -> any BlockFormat.Type {
        let type = try #require(GGMLType(rawValue: entry.ggml_type))
        return try #require(BlockCodec.format(for: type), Comment(rawValue: "\(type) is not registered in BlockCodec.formats"))
    }

    /// Quantizes each row of `input` and dequantizes each row of `bytes`; one line per row that
    /// differs, naming the first differing block.
    static func compare(
        _ codec: any BlockFormat.Type, blockSize: Int, blockBytes: Int, input: [Float], bytes: [UInt8],
        floats: [Float]?, rowLength: Int, rowName: (Int) -> String
    ) -> [String] {
        let rows = input.count / rowLength
        let blocks = rowLength / blockSize
        let rowBytes = blocks * blockBytes
        guard bytes.count == rows * rowBytes, floats.map({ $0.count == input.count }) ?? true else {
            return ["sizes: \(bytes.count) bytes and \(floats?.count ?? 0) floats for \(rows) rows"]
        }
        var out: [String] = []
        var quantized = [UInt8](repeating: 0, count: rowBytes)
        var dequantized = [Float](repeating: 0, count: rowLength)
        for r in 0..<rows {
            input.withUnsafeBufferPointer { x in
                quantized.withUnsafeMutableBytes { codec.quantize(x.baseAddress! + r * rowLength, $0.baseAddress!, blocks: blocks) }
            }
            let expected = Array(bytes[r * rowBytes ..< (r + 1) * rowBytes])
            if quantized != expected, let b = (0..<blocks).first(where: { b in
                (b * blockBytes ..< (b + 1) * blockBytes).contains { quantized[$0] != expected[$0] }
            }) {
                let block = b * blockBytes ..< (b + 1) * blockBytes
                out.append("row \(r) (\(rowName(r))): quantize differs from ggml first in block \(b): "
                           + "ours \(Array(quantized[block])), ggml \(Array(expected[block]))")
            }
            guard let floats else { continue }
            bytes.withUnsafeBytes { q in
                dequantized.withUnsafeMutableBufferPointer { codec.dequantize(q.baseAddress! + r * rowBytes, $0.baseAddress!, blocks: blocks) }
            }
            let same = dequantized.withUnsafeBytes { ours in
                floats.withUnsafeBytes { memcmp(ours.baseAddress!, $0.baseAddress! + 4 * r * rowLength, 4 * rowLength) == 0 }
            }
            if !same, let j = (0..<rowLength).first(where: { dequantized[$0].bitPattern != floats[r * rowLength + $0].bitPattern }) {
                out.append("row \(r) (\(rowName(r))): dequantize differs from ggml first at value \(j): "
                           + "ours \(dequantized[j]) (0x\(String(dequantized[j].bitPattern, radix: 16))), "
                           + "ggml \(floats[r * rowLength + j]) (0x\(String(floats[r * rowLength + j].bitPattern, radix: 16)))")
            }
        }
        return out
    }

    /// Rows of varied shape from a 64-bit LCG: normal at scales 1e-3...1e3, heavy-tailed
    /// (normal / uniform), near-ternary, one-signed (every second one of those at a scale from
    /// 1e-40 to 1e30, denormal to overflowing halves), with whole zero blocks sprinkled in.
    static func randomRows(_ rows: Int, _ rowLength: Int, seed: UInt64) -> [Float] {
        var state = seed
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / 9007199254740992
        }
        func normal() -> Double { (-2 * Foundation.log(next())).squareRoot() * cos(2 * .pi * next()) }
        var out = [Float](repeating: 0, count: rows * rowLength)
        for r in 0..<rows {
            let scale = r % 8 == 7 ? Foundation.pow(10, 70 * next() - 40) : Foundation.pow(10, 6 * next() - 3)
            let shape = r % 4
            for j in 0..<rowLength {
                let v: Double = switch shape {
                case 0: normal()
                case 1: normal() / next()
                case 2: Double(Int(next() * 3) - 1) + 0.05 * normal()
                default: next()
                }
                out[r * rowLength + j] = Float(v * scale)
            }
            for _ in 0..<4 {
                let start = Int(next() * Double(rowLength / 256)) * 256 + Int(next() * 8) * 32
                for j in start ..< start + 32 { out[r * rowLength + j] = 0 }
            }
        }
        return out
    }
}

extension BlockFormatTests {
    /// `Fixtures/blocks/`: raw little-endian files and the index the fixture script writes.
    struct Fixtures {
        struct Index: Decodable {
            struct Row: Decodable {
                var distribution: String
                var description: String
            }
            var n_per_row: Int
            var input: String
            var rows: [Row]
            var types: [String: TypeEntry]
        }

        struct TypeEntry: Decodable {
            var ggml_type: UInt32
            var block_size: Int
            var block_bytes: Int
            var quantized: String
            var dequantized: String?
        }

        static let directory: String = {
            var url = URL(fileURLWithPath: #filePath)
            url.deleteLastPathComponent()
            return url.appendingPathComponent("Fixtures/blocks").path
        }()

        var directory: String
        var index: Index

        static func load() throws -> Fixtures {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/index.json"))
            return Fixtures(directory: directory, index: try JSONDecoder().decode(Index.self, from: data))
        }

        func bytes(_ file: String) throws -> [UInt8] {
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)))
        }

        func floats(_ file: String) throws -> [Float] {
            let raw = try bytes(file)
            return [Float](unsafeUninitializedCapacity: raw.count / 4) { out, count in
                raw.withUnsafeBytes { UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<(out.count * 4)])) }
                for i in 0..<out.count { out[i] = Float(bitPattern: UInt32(littleEndian: out[i].bitPattern)) }
                count = out.count
            }
        }
    }
}
