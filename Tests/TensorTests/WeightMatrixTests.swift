import CKernels
import GGUFFormat
import Quantization
import Testing
@testable import Tensor

/// Products of every weight format against an exact reference built from independent code: the
/// weights dequantized by the Quantization target's reference codecs, the activations by the
/// same codecs from the bytes the product quantized them to, summed in double. A quantized dot
/// product sums each block exactly in integers, so only the float additions of scaled block sums
/// may differ: bound `(n + 4) * 2^-24 * sum |w a|` (CKernels/README.md), with the rounding of the
/// block scales' product (one more 2^-24 per term) added. Q4_1/Q5_1 multiply their minimum by the
/// activation block sum Q8_1 stores as a half (ggml's format), so the reference uses that sum.
@Suite struct WeightMatrixTests {
    static let quantizedTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .tq1_0, .tq2_0]

    /// A random matrix of `rows` x `columns` quantized to `type` by the reference quantizer.
    static func matrix(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) throws -> (WeightMatrix, [Float]) {
        let (matrix, weights, _) = try matrixAndBytes(type, rows: rows, columns: columns, seed: seed)
        return (matrix, weights)
    }

    static func matrixAndBytes(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) throws -> (WeightMatrix, [Float], [UInt8]) {
        var random = TestRandom(seed: seed)
        let values = random.normals(rows * columns, scale: 0.05)
        let bytes = try BlockCodec.quantize(type, values)
        let matrix = try WeightMatrix(name: "w", type: type, rows: rows, columns: columns, bytes: bytes)
        return (matrix, try BlockCodec.dequantize(type, bytes), bytes)
    }

    static func half(_ bytes: [UInt8], _ offset: Int) -> Double {
        Double(Float(Float16(bitPattern: UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)))
    }

    /// What the product computes exactly, from the activations as it quantized them.
    static func reference(_ weights: [Float], rows: Int, columns: Int, input: [Float], count: Int, format: ActivationFormat,
                          weightBytes: [UInt8] = [], type: GGMLType = .f32)
        throws -> (values: [Double], magnitudes: [Double])
    {
        var activations: [Float] = []
        var blockSums: [Double] = []  // Q8_1: stored half sum minus the exact one, per block
        for t in 0..<count {
            let row = Array(input[(t * columns)..<((t + 1) * columns)])
            var bytes = [UInt8](repeating: 0, count: format.rowBytes(columns))
            row.withUnsafeBufferPointer { r in bytes.withUnsafeMutableBytes { format.convert(r.baseAddress!, columns: columns, into: $0.baseAddress!) } }
            switch format {
            case .q8_0: activations += try BlockCodec.dequantize(.q8_0, bytes)
            case .q8_1:
                activations += try BlockCodec.dequantize(.q8_1, bytes)
                for b in 0..<(columns / 32) {
                    let exact = (0..<32).reduce(0.0) { $0 + Double(Int8(bitPattern: bytes[b * 36 + 4 + $1])) } * half(bytes, b * 36)
                    blockSums.append(half(bytes, b * 36 + 2) - exact)
                }
            case .q8_K: activations += try BlockCodec.dequantize(.q8_K, bytes)
            case .f32, .f16, .bf16: activations += bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            }
        }
        var values = [Double](repeating: 0, count: count * rows), magnitudes = values
        for t in 0..<count {
            for r in 0..<rows {
                var sum = 0.0, magnitude = 0.0
                for c in 0..<columns {
                    let p = Double(weights[r * columns + c]) * Double(activations[t * columns + c])
                    sum += p
                    magnitude += abs(p)
                }
                if format == .q8_1 {
                    let blocks = columns / 32, rowBytes = weightBytes.count / rows
                    for b in 0..<blocks { sum += half(weightBytes, r * rowBytes + b * type.blockBytes + 2) * blockSums[t * blocks + b] }
                }
                values[t * rows + r] = sum
                magnitudes[t * rows + r] = magnitude
            }
        }
        return (values, magnitudes)
    }

    @Test(arguments: quantizedTypes)
    func quantizedProductIsExactUpToFloatAdditions(_ type: GGMLType) throws {
        let rows = 24, columns = 512, count = 3
        let (matrix, weights, bytes) = try Self.matrixAndBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue))
        var random = TestRandom(seed: 99)
        let input = random.normals(count * columns)
        let output = matrix.multiply(input, count: count)
        let (expected, magnitudes) = try Self.reference(weights, rows: rows, columns: columns, input: input, count: count,
                                                        format: matrix.activationFormat, weightBytes: bytes, type: type)
        let blocks = Double(columns / type.blockSize)
        for i in output.indices {
            let bound = (Double(columns) + 4 + 2 * blocks) * 0x1p-24 * magnitudes[i] + 1e-30
            #expect(abs(Double(output[i]) - expected[i]) <= bound, "\(type) output \(i): \(output[i]) vs \(expected[i])")
        }
    }

    @Test func activationFormatsFollowGGML() {
        #expect(ActivationFormat(weights: .q4_0) == .q8_0)
        #expect(ActivationFormat(weights: .q5_0) == .q8_0)
        #expect(ActivationFormat(weights: .q8_0) == .q8_0)
        #expect(ActivationFormat(weights: .q4_1) == .q8_1)
        #expect(ActivationFormat(weights: .q5_1) == .q8_1)
        for type in [GGMLType.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .tq1_0, .tq2_0] { #expect(ActivationFormat(weights: type) == .q8_K) }
        #expect(ActivationFormat(weights: .f16) == .f16)
        #expect(ActivationFormat(weights: .iq4_XS) == nil)
    }

    /// Fusing products and splitting rows over threads cannot change a bit of a quantized product:
    /// each output's sum is the same whichever worker or tile computes it. A batch of 8 or more rows goes through the
    /// panel kernels, one row through the row kernels: same integers and scales, another float
    /// order, so those two agree to float rounding only.
    @Test(arguments: [GGMLType.q4_0, .q4_K, .f32])
    func batchedFusedAndThreadedProductsAreBitIdentical(_ type: GGMLType) throws {
        let columns = 256
        let (a, _) = try Self.matrix(type, rows: 40, columns: columns, seed: 1)
        let (b, _) = try Self.matrix(type, rows: 8, columns: columns, seed: 2)
        var random = TestRandom(seed: 3)
        let count = 70
        let input = random.normals(count * columns)
        let single = ComputePool(threads: 1)
        let batched = a.multiply(input, count: count, pool: single)
        var oneByOne: [Float] = []
        for t in 0..<count { oneByOne += a.multiply(Array(input[(t * columns)..<((t + 1) * columns)]), count: 1, pool: single) }
        // BLAS may order a matrix-vector product differently from a matrix-matrix one; panels
        // differ from the row kernels in the same way.
        for (x, y) in zip(batched, oneByOne) { #expect(abs(x - y) <= 1e-5 * max(1, abs(y))) }
        #expect(batched != oneByOne || type == .f32 || loco_panel_preferred() == 0,
                "the batch should have gone through the panel kernels")
        var fusedA = [Float](repeating: 0, count: count * a.rows), fusedB = [Float](repeating: 0, count: count * b.rows)
        let pool = ComputePool(threads: 3)
        input.withUnsafeBufferPointer { x in
            fusedA.withUnsafeMutableBufferPointer { ya in
                fusedB.withUnsafeMutableBufferPointer { yb in
                    WeightMatrix.multiply([.init(a, ya.baseAddress!), .init(b, yb.baseAddress!)], input: x.baseAddress!, count: count,
                                          workspace: MatmulWorkspace(), pool: pool)
                }
            }
        }
        let alone = b.multiply(input, count: count, pool: single)
        if type == .f32 {
            // OpenBLAS's AVX-512 kernels block a row range differently by its size.
            for (x, y) in zip(fusedA + fusedB, batched + alone) { #expect(abs(x - y) <= 1e-5 * max(1, abs(y))) }
        } else {
            #expect(fusedA == batched)
            #expect(fusedB == alone)
        }
    }

    /// F16 weights are widened at load and their inputs rounded to half, as ggml converts them:
    /// the product then equals an exact sum of half-times-half products up to float additions.
    @Test func halfWeightsRoundTheirInput() throws {
        let rows = 6, columns = 64
        var random = TestRandom(seed: 5)
        let values = random.normals(rows * columns)
        let bytes = try BlockCodec.quantize(.f16, values)
        let matrix = try WeightMatrix(name: "h", type: .f16, rows: rows, columns: columns, bytes: bytes)
        let weights = try BlockCodec.dequantize(.f16, bytes)
        let input = random.normals(columns)
        let rounded = input.map { Float(Float16($0)) }
        let output = matrix.multiply(input, count: 1)
        for r in 0..<rows {
            var sum = 0.0, magnitude = 0.0
            for c in 0..<columns {
                sum += Double(weights[r * columns + c]) * Double(rounded[c])
                magnitude += abs(Double(weights[r * columns + c]) * Double(rounded[c]))
            }
            #expect(abs(Double(output[r]) - sum) <= Double(columns) * 0x1p-24 * magnitude)
        }
    }

    /// In llama.cpp's order a Q4_0 matrix with a multiple of 8 rows is summed block by block with
    /// one FMA each (ggml's repacked kernels); other matrices keep the 8-lane order.
    @Test func repackedQ4_0OrderIsBlockByBlock() throws {
        let columns = 512
        for rows in [16, 12] {
            let (matrix, _, bytes) = try Self.matrixAndBytes(.q4_0, rows: rows, columns: columns, seed: 41)
            var random = TestRandom(seed: 42)
            let input = random.normals(2 * columns)
            let ordered = matrix.multiply(input, count: 2, numerics: .llamaCpp)
            var expected: [Float] = []
            for t in 0..<2 {
                var q8 = [UInt8](repeating: 0, count: ActivationFormat.q8_0.rowBytes(columns))
                input.withUnsafeBufferPointer { x in
                    q8.withUnsafeMutableBytes { ActivationFormat.q8_0.convert(x.baseAddress! + t * columns, columns: columns, into: $0.baseAddress!) }
                }
                for r in 0..<rows {
                    var acc: Float = 0
                    for b in 0..<(columns / 32) {
                        let w = r * (columns / 32 * 18) + b * 18, a = b * 34
                        var sum = 0
                        for j in 0..<16 {
                            sum += (Int(bytes[w + 2 + j] & 15) - 8) * Int(Int8(bitPattern: q8[a + 2 + j]))
                            sum += (Int(bytes[w + 2 + j] >> 4) - 8) * Int(Int8(bitPattern: q8[a + 18 + j]))
                        }
                        acc = acc.addingProduct(Float(sum), Float(Self.half(bytes, w)) * Float(Self.half(q8, a)))
                    }
                    expected.append(acc)
                }
            }
            if rows % 8 == 0 {
                #expect(ordered.map(\.bitPattern) == expected.map(\.bitPattern))
            } else {
                for (a, b) in zip(ordered, expected) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b))) }
            }
        }
    }

    @Test func rowsDequantizeAsTheReferenceCodec() throws {
        for type in Self.quantizedTypes {
            let (matrix, weights) = try Self.matrix(type, rows: 3, columns: 256, seed: 7)
            #expect(matrix.row(2) == Array(weights[512..<768]), "\(type)")
        }
    }

    @Test func unsupportedTypesAndShapesAreErrors() {
        #expect(throws: TensorError.unsupportedWeightType(tensor: "x", type: .iq4_XS)) {
            try WeightMatrix(name: "x", type: .iq4_XS, rows: 1, columns: 256, bytes: [UInt8](repeating: 0, count: 136))
        }
        #expect(throws: TensorError.sizeMismatch(tensor: "y", expected: 68, actual: 10)) {
            try WeightMatrix(name: "y", type: .q8_0, rows: 2, columns: 32, bytes: [UInt8](repeating: 0, count: 10))
        }
    }
}
