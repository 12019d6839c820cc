import Foundation
import LocoTestSupport
import Testing
@testable import Tensor

/// The emulation of ggml-cpu's float order (`Numerics.llamaCpp`), against ggml itself (the
/// kernels llama-cpp-python ships, through `scripts/inference_ggml_numerics.py`): equality is
/// bit for bit, since anything less lets quantized activations round differently.
@Suite struct GGMLNumericsTests {
    static var peerAvailable: Bool { Peers.pythonHas("llama_cpp") }

    static func peer(_ arguments: [String]) throws {
        let result = try run("python3", [Repository.path("scripts/inference_ggml_numerics.py")] + arguments)
        try #require(result.status == 0, "inference_ggml_numerics.py: \(result.stderr)")
    }

    /// The double-based FMA equals the correctly rounded one, including crafted cases where the
    /// double sum lands exactly halfway between two floats (where a plain double emulation errs).
    @Test func emulatedFMAIsCorrectlyRounded() {
        var random = TestRandom(seed: 11)
        for _ in 0..<200_000 {
            let a = Float(bitPattern: UInt32.random(in: 0x3000_0000...0x4F00_0000, using: &random)) * (Bool.random(using: &random) ? 1 : -1)
            let b = Float.random(in: -4...4, using: &random)
            let c = Float.random(in: -1e3...1e3, using: &random)
            #expect(GGMLNumerics.fma(a, b, c).bitPattern == c.addingProduct(a, b).bitPattern)
        }
        // a*b = 1 + 2^-24 + 2^-48 (exact), c = 2^-50: the double sum rounds to 1 + 2^-24, a float
        // midpoint, though the exact value lies above it.
        let a: Float = 1 + 0x1p-23, b: Float = 1 + 0x1p-23
        let tricky: [(Float, Float, Float)] = [(a, b, -0x1p-24), (a, b, 0x1p-50), (a, b, -0x1p-48), (1e-20, 1e-20, 1e-40)]
        for (x, y, z) in tricky { #expect(GGMLNumerics.fma(x, y, z).bitPattern == z.addingProduct(x, y).bitPattern) }
    }

    @Test func reduceAddsHalvesPairwise() {
        let lanes = GGMLNumerics.Lanes((0..<16).map { Float(1 << $0) * (($0 % 3 == 0) ? 1e-8 : 1) })
        let t3 = (0..<8).map { lanes[$0 + 8] + lanes[$0] }
        let t6 = (0..<4).map { t3[$0 + 4] + t3[$0] }
        #expect(GGMLNumerics.reduce(lanes) == (t6[0] + t6[2]) + (t6[1] + t6[3]))
    }

    @Test func softmaxExponentialsMatchGGML() throws {
        guard Self.peerAvailable else { #expect(!Peers.required, "llama-cpp-python is required"); return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = TestRandom(seed: 12)
        // Scores spanning ggml's ranges: ordinary, tiny results (subnormal), and cut-off ones.
        var x = random.normals(4096, scale: 8)
        x += [-87, -100, -103, -150, -200, 0, 1e-30, -1e-30]
        x += [Float](repeating: 0, count: 16 - x.count % 16)
        try FloatFile.write(x, to: dir + "/x.f32")
        try Self.peer(["softmax", dir + "/x.f32", dir + "/y.f32"])
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/y.f32"))
        let theirs = data.prefix(x.count * 4).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let theirSum = data.suffix(8).withUnsafeBytes { $0.loadUnaligned(as: Double.self) }
        let maximum = x.max()!
        var ours: [Float] = [], sum = 0.0
        for chunk in stride(from: 0, to: x.count, by: 16) {
            var lanes = GGMLNumerics.Lanes()
            for l in 0..<16 { lanes[l] = GGMLNumerics.exp(x[chunk + l] - maximum); ours.append(lanes[l]) }
            sum += Double(GGMLNumerics.reduce(lanes))
        }
        #expect(ours.map(\.bitPattern) == theirs.map(\.bitPattern))
        #expect(sum == theirSum)
    }

    @Test func swigluMatchesGGML() throws {
        guard Self.peerAvailable else { #expect(!Peers.required, "llama-cpp-python is required"); return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = TestRandom(seed: 13)
        let gate = random.normals(2048, scale: 6), up = random.normals(2048)
        try FloatFile.write(gate, to: dir + "/g.f32")
        try FloatFile.write(up, to: dir + "/u.f32")
        try Self.peer(["swiglu", dir + "/g.f32", dir + "/u.f32", dir + "/y.f32"])
        var ours = gate
        ours.withUnsafeMutableBufferPointer { Activations.swiglu(gate: $0.baseAddress!, up: up, count: up.count, numerics: .llamaCpp) }
        let theirs = try FloatFile.read(dir + "/y.f32")
        #expect(ours.map(\.bitPattern) == theirs.map(\.bitPattern))
        // The fast form differs only in the exp: a few ulps.
        var fast = gate
        fast.withUnsafeMutableBufferPointer { Activations.swiglu(gate: $0.baseAddress!, up: up, count: up.count) }
        for (f, t) in zip(fast, theirs) { #expect(abs(f - t) <= 4 * t.ulp + 1e-30) }
    }

    @Test(arguments: [64, 128, 80, 7])
    func dotMatchesGGML(_ n: Int) throws {
        guard Self.peerAvailable else { #expect(!Peers.required, "llama-cpp-python is required"); return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = TestRandom(seed: UInt64(n))
        let rows = 64
        let x = random.normals(rows * n), y = random.normals(rows * n)
        try FloatFile.write(x, to: dir + "/x.f32")
        try FloatFile.write(y, to: dir + "/y.f32")
        try Self.peer(["dot", "\(n)", dir + "/x.f32", dir + "/y.f32", dir + "/d.f32"])
        let theirs = try FloatFile.read(dir + "/d.f32")
        let ours = x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in (0..<rows).map { GGMLNumerics.dot(n, xp.baseAddress! + $0 * n, yp.baseAddress! + $0 * n) } }
        }
        #expect(ours.map(\.bitPattern) == theirs.map(\.bitPattern))
    }
}
