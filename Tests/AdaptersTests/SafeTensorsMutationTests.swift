import Foundation
import Testing
@testable import Adapters

/// Damaged copies of small safetensors files: each must either parse (and then every tensor reads
/// completely, inside the input) or throw `SafeTensorsError`; nothing may trap. Deterministic
/// (a fixed seed), so a failure reproduces. The header is JSON, so besides flipped and
/// overwritten bytes the mutations target its text: digits nudged, structural characters
/// swapped, the length prefix rewritten, runs inserted, deleted and truncated.
@Suite struct SafeTensorsMutationTests {
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    }

    static func seeds() throws -> [[UInt8]] {
        var one = SafeTensorsWriter(metadata: ["format": "pt"])
        try one.addTensor(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", shape: [2, 8],
                          values: (0..<16).map { Float($0) / 7 })
        try one.addTensor(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", shape: [4, 2],
                          values: (0..<8).map { Float($0) - 3.5 }, dtype: .f16)
        var two = SafeTensorsWriter()
        try two.addTensor(name: "x", shape: [3], values: [1, 2, 3], dtype: .bf16)
        try two.addTensor(name: "y", shape: [], values: [42])
        return [one.encoded(), two.encoded()]
    }

    static func mutate(_ input: [UInt8], _ random: inout Random) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + random.below(3)) {
            guard !bytes.isEmpty else { break }
            let at = random.below(bytes.count)
            switch random.below(8) {
            case 0: bytes[at] ^= UInt8(1 << random.below(8))
            case 1: bytes[at] = UInt8(truncatingIfNeeded: random.next())
            case 2:  // a digit of the header nudged (shapes, offsets)
                if let digit = bytes.indices.filter({ bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }).randomElement(using: &random) {
                    bytes[digit] = 0x30 + UInt8(random.below(10))
                }
            case 3:  // a structural character replaced by another
                let structural: [UInt8] = Array("{}[]:,\"".utf8)
                if let index = bytes.indices.filter({ structural.contains(bytes[$0]) }).randomElement(using: &random) {
                    bytes[index] = structural[random.below(structural.count)]
                }
            case 4:  // the length prefix rewritten
                let value: UInt64 = [0, 1, 7, UInt64(bytes.count), UInt64(bytes.count - 8), UInt64.max, 1 << 40][random.below(7)]
                for i in 0..<min(8, bytes.count) { bytes[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
            case 5: bytes.insert(contentsOf: (0..<(1 + random.below(16))).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
            case 6: bytes.removeSubrange(at..<min(bytes.count, at + 1 + random.below(16)))
            default: bytes.removeSubrange(at..<bytes.count)
            }
        }
        return bytes
    }

    @Test func damagedFilesThrowOrParseConsistently() throws {
        var random = Random(state: 2026)
        var parsed = 0, refused = 0
        for seed in try Self.seeds() {
            for _ in 0..<1500 {
                let bytes = Self.mutate(seed, &random)
                do {
                    let file = try SafeTensorsFile(bytes: bytes)
                    for info in file.tensors {
                        #expect(info.dataOffsets.lowerBound >= 0 && file.dataOffset + info.dataOffsets.upperBound <= bytes.count)
                        #expect(file.floats(info).count == info.elementCount)
                    }
                    parsed += 1
                } catch {
                    refused += 1
                }
            }
        }
        // Both outcomes occur: the mutations are neither all harmless nor all fatal.
        #expect(parsed > 50 && refused > 1000, "parsed \(parsed), refused \(refused)")
    }
}

extension Array {
    func randomElement(using random: inout SafeTensorsMutationTests.Random) -> Element? {
        isEmpty ? nil : self[random.below(count)]
    }
}
