import CKernels
import Foundation
import GGUFFormat
import Quantization
import LocoTestSupport
import Testing
@testable import Tensor

/// The emulation of ggml-cpu's float order (`Numerics.llamaCpp`), against ggml itself (the
/// kernels llama-cpp-python ships, through `scripts/inference_ggml_numerics.py`): equality is
/// bit for bit, since anything less lets quantized activations round differently.
@Suite struct GGMLNumericsTests {
    static var peerAvailable: Bool { Peers.pythonHas("llama_cpp") }

    /// The two ggml builds whose order is reproduced, each checked against its own llama.cpp
    /// build where one is installed (an AVX-512 machine has both after scripts/install-peers.sh;
    /// an AVX2-only one has the AVX2 build). Independent of LOCO_CPU_FEATURES: the emulation is
    /// portable Swift.
    static let builds: [GGMLNumerics.Build] = [.avx512, .avx2]

    static func library(_ build: GGMLNumerics.Build) -> String? {
        Peers.llamaCppLibrary(for: build == .avx512 ? .avx512 : .avx2)
    }

    /// Whether `build` can be checked here; records a failure when the peers are required and
    /// a build this CPU can run is missing.
    static func checkable(_ build: GGMLNumerics.Build) -> Bool {
        guard peerAvailable else { #expect(!Peers.required, "llama-cpp-python is required"); return false }
        if library(build) != nil { return true }
        let runnable = build == .avx2 || KernelSet.detected == .avx512
        #expect(!(Peers.required && runnable && KernelSet.detected != .scalar), "llama.cpp built for \(build) is required (scripts/install-peers.sh)")
        print("skipped: no llama.cpp built for \(build) on this machine")
        return false
    }

    static func peer(_ arguments: [String], build: GGMLNumerics.Build) throws {
        let result = try run("python3", [Repository.path("scripts/inference_ggml_numerics.py")] + arguments,
                             environment: ["LLAMA_CPP_LIB_PATH": library(build) ?? ""])
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

    @Test func hsumAndHaddOrders() {
        let v = SIMD8<Float>((0..<8).map { Float(1 << $0) * (($0 % 3 == 0) ? 1e-8 : 1) })
        let high = (0..<4).map { v[$0 + 4] + v[$0] }
        #expect(GGMLNumerics.hsum(v) == (high[0] + high[2]) + (high[1] + high[3]))
        #expect(GGMLNumerics.haddReduce(v) == (high[0] + high[1]) + (high[2] + high[3]))
    }

    @Test(arguments: builds)
    func softmaxExponentialsMatchGGML(_ build: GGMLNumerics.Build) throws {
        guard Self.checkable(build) else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = TestRandom(seed: 12)
        // Scores spanning ggml's ranges: ordinary, tiny results (subnormal), and cut-off ones.
        var x = random.normals(4096, scale: 8)
        x += [-87, -100, -103, -150, -200, 0, 1e-30, -1e-30]
        x += [Float](repeating: 0, count: 16 - x.count % 16)
        try FloatFile.write(x, to: dir + "/x.f32")
        try Self.peer(["softmax", dir + "/x.f32", dir + "/y.f32"], build: build)
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/y.f32"))
        let theirs = data.prefix(x.count * 4).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let theirSum = data.suffix(8).withUnsafeBytes { $0.loadUnaligned(as: Double.self) }
        let maximum = x.max()!
        var ours: [Float] = [], sum = 0.0
        for chunk in stride(from: 0, to: x.count, by: build.lanes) {
            var lanes = GGMLNumerics.Lanes()
            for l in 0..<build.lanes { lanes[l] = GGMLNumerics.exp(x[chunk + l] - maximum, build: build); ours.append(lanes[l]) }
            sum += Double(GGMLNumerics.chunkSum(lanes, build: build))
        }
        #expect(ours.map(\.bitPattern) == theirs.map(\.bitPattern))
        #expect(sum == theirSum)
    }

    @Test(arguments: builds)
    func swigluMatchesGGML(_ build: GGMLNumerics.Build) throws {
        guard Self.checkable(build) else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = TestRandom(seed: 13)
        // 2045: a tail shorter than a vector, which ggml computes with expf.
        let gate = random.normals(2045, scale: 6) + [-90, -100, 95, 120, 0.0], up = random.normals(2050)
        try FloatFile.write(gate, to: dir + "/g.f32")
        try FloatFile.write(up, to: dir + "/u.f32")
        try Self.peer(["swiglu", dir + "/g.f32", dir + "/u.f32", dir + "/y.f32"], build: build)
        var ours = gate
        ours.withUnsafeMutableBufferPointer { GGMLNumerics.swiglu(gate: $0.baseAddress!, up: up, count: up.count, build: build) }
        let theirs = try FloatFile.read(dir + "/y.f32")
        #expect(ours.map(\.bitPattern) == theirs.map(\.bitPattern))
        // The fast form differs only in the exp: a few ulps.
        var fast = gate
        fast.withUnsafeMutableBufferPointer { Activations.swiglu(gate: $0.baseAddress!, up: up, count: up.count) }
        for (f, t) in zip(fast, theirs) { #expect(abs(f - t) <= 8 * t.ulp + 1e-30) }
    }

    @Test(arguments: builds, [64, 128, 80, 7, 8, 16, 29, 44, 100, 127])
    func dotMatchesGGML(_ build: GGMLNumerics.Build, _ n: Int) throws {
        guard Self.checkable(build) else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = TestRandom(seed: UInt64(n))
        let rows = 64
        let x = random.normals(rows * n), y = random.normals(rows * n)
        try FloatFile.write(x, to: dir + "/x.f32")
        try FloatFile.write(y, to: dir + "/y.f32")
        try Self.peer(["dot", "\(n)", dir + "/x.f32", dir + "/y.f32", dir + "/d.f32"], build: build)
        let theirs = try FloatFile.read(dir + "/d.f32")
        let ours = x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in
                (0..<rows).map { GGMLNumerics.dot(n, xp.baseAddress! + $0 * n, yp.baseAddress! + $0 * n, build: build) }
            }
        }
        #expect(ours.map(\.bitPattern) == theirs.map(\.bitPattern))
    }

    /// K-quant products with `Numerics.llamaCpp` against ggml-cpu's own MUL_MAT (`ggml_peer.py
    /// mul-mat`, weights not repacked: `vec_dot` below 8 input rows, the tiled GEMM from 8), bit
    /// for bit, with the SIMD variants and with the portable C ones.
    @Test(arguments: [GGMLType.q3_K, .q5_K, .q6_K, .tq1_0, .tq2_0])
    func kQuantProductsMatchGGML(_ type: GGMLType) throws {
        guard Peers.pythonHas("llama_cpp") else { #expect(!Peers.required, "llama-cpp-python is required"); return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = TestRandom(seed: UInt64(type.rawValue))
        let rows = 16, columns = 1536
        try FloatFile.write(random.normals(rows * columns, scale: 0.05), to: dir + "/w.f32")
        let quantized = try run("python3", [Repository.path("scripts/ggml_peer.py"), "quantize", type.name.uppercased(), "\(columns)",
                                            dir + "/w.f32", dir + "/w.bin"])
        try #require(quantized.status == 0, "ggml_peer.py quantize: \(quantized.stderr)")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/w.bin")))
        let matrix = try WeightMatrix(name: "w", type: type, rows: rows, columns: columns, bytes: bytes)
        for count in [1, 5, 8, 20] {
            let input = random.normals(count * columns, scale: 3)
            try FloatFile.write(input, to: dir + "/x.f32")
            let product = try run("python3", [Repository.path("scripts/ggml_peer.py"), "mul-mat", type.name.uppercased(), "\(columns)",
                                              dir + "/w.bin", dir + "/x.f32", dir + "/y.f32"])
            try #require(product.status == 0, "ggml_peer.py mul-mat: \(product.stderr)")
            let theirs = try FloatFile.read(dir + "/y.f32")
            let pool = ComputePool(threads: 1)
            let ours = matrix.multiply(input, count: count, numerics: .llamaCpp, pool: pool)
            #expect(ours.map(\.bitPattern) == theirs.map(\.bitPattern), "\(type) x \(count) rows")
            let saved = loco_cpu_feature_mask()
            loco_set_cpu_feature_mask(0)
            let portable = matrix.multiply(input, count: count, numerics: .llamaCpp, pool: pool)
            loco_set_cpu_feature_mask(saved)
            #expect(portable.map(\.bitPattern) == theirs.map(\.bitPattern), "\(type) x \(count) rows, portable C")
        }
    }

    /// Repacked Q4_K (`q4_K_8x8`, which ggml's exported kernels take only in its interleaved layout;
    /// the end-to-end check is ReleaseParityTests): the AVX2 and portable C variants agree bit for
    /// bit, and `gemm` (per 64 values) and `gemv` (per super-block) differ from each other.
    @Test func repackedQ4_KVariantsAgree() throws {
        var random = TestRandom(seed: 44)
        let rows = 8, columns = 2048
        let weights = random.normals(rows * columns, scale: 0.05)
        let bytes = try BlockCodec.quantize(.q4_K, weights)
        let input = random.normals(4 * columns, scale: 3)
        var activations = [UInt8](repeating: 0, count: ActivationFormat.q8_K.rowBytes(columns) * 4)
        input.withUnsafeBufferPointer { x in
            activations.withUnsafeMutableBytes { a in
                for t in 0..<4 { loco_quantize_row_q8_K(x.baseAddress! + t * columns, a.baseAddress! + t * ActivationFormat.q8_K.rowBytes(columns), columns) }
            }
        }
        func products(_ kernel: WeightMatrix.Storage.Dot, mask: UInt32) -> [UInt32] {
            let saved = loco_cpu_feature_mask()
            loco_set_cpu_feature_mask(mask)
            defer { loco_set_cpu_feature_mask(saved) }
            let rowBytes = bytes.count / rows, activationBytes = ActivationFormat.q8_K.rowBytes(columns)
            return bytes.withUnsafeBytes { w in
                activations.withUnsafeBytes { a in
                    (0..<4).flatMap { t in (0..<rows).map { r in
                        kernel(columns, w.baseAddress! + r * rowBytes, a.baseAddress! + t * activationBytes).bitPattern
                    } }
                }
            }
        }
        let gemv = products(loco_ggml_gemv_dot_q4_K_q8_K, mask: .max), gemm = products(loco_ggml_gemm_dot_q4_K_q8_K, mask: .max)
        #expect(gemv == products(loco_ggml_gemv_dot_q4_K_q8_K, mask: 0))
        #expect(gemm == products(loco_ggml_gemm_dot_q4_K_q8_K, mask: 0))
        #expect(gemv != gemm)
    }
}
