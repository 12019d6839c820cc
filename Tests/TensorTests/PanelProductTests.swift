import CKernels
import GGUFFormat
import Quantization
import Testing
@testable import Tensor

/// The panel products (`gemm_panel.c`), which ``WeightMatrix`` uses for ``Numerics/fast`` products
/// of many input rows, against the exact reference of ``WeightMatrixTests``.
///
/// A panel writes each weight as `scale * q + min` with an unsigned q, so besides the float
/// additions of a row kernel it adds the minimum's term separately: the products of both halves
/// are as large as `(|w| + |min|) |a|`, and `|min|` is at most about the largest `|w|` of its
/// group (Q4_0: 8d against 8d, Q8_0: 128d against 127d, Q6_K: 32 d sc against 32 d sc). The bound
/// is therefore the row kernels' `(n + 4 + 2 blocks) 2^-24` times `sum (|w| + 2 max|w|) |a|`; a
/// wrong lane, scale or group term errs by about `|w a|` per value, orders of magnitude more.
@Suite struct PanelProductTests {
    /// Widths that exercise every chunk size (256, 128 and 64 values) and zero padding.
    static func width(_ type: GGMLType) -> Int { type.blockSize == 32 ? 544 : 768 }

    static func check(_ type: GGMLType, output: [Float], rows: Int, columns: Int, count: Int, input: [Float],
                      matrix: WeightMatrix, weights: [Float], bytes: [UInt8]) throws {
        let (expected, _) = try WeightMatrixTests.reference(weights, rows: rows, columns: columns, input: input, count: count,
                                                            format: matrix.activationFormat, weightBytes: bytes, type: type)
        let blocks = Double(columns / type.blockSize)
        for t in 0..<count {
            for r in 0..<rows {
                let row = weights[(r * columns)..<((r + 1) * columns)]
                let largest = Double(row.map { abs($0) }.max() ?? 0)
                var magnitude = 0.0
                for c in 0..<columns { magnitude += (Double(abs(row[r * columns + c])) + 2 * largest) * Double(abs(input[t * columns + c])) }
                let bound = (Double(columns) + 4 + 2 * blocks) * 0x1p-24 * magnitude + 1e-30
                let i = t * rows + r
                #expect(abs(Double(output[i]) - expected[i]) <= bound, "\(type) row \(r) input \(t): \(output[i]) vs \(expected[i])")
            }
        }
    }

    /// Through ``WeightMatrix``: 10 rows (a partial tile of 4) and 13 inputs (another), threaded.
    @Test(arguments: WeightMatrixTests.quantizedTypes)
    func panelProductIsExactUpToFloatAdditions(_ type: GGMLType) throws {
        let rows = 10, columns = Self.width(type), count = 13
        #expect(count >= WeightMatrix.panelMinimumCount)
        let (matrix, weights, bytes) = try WeightMatrixTests.matrixAndBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 7)
        #expect(matrix.hasPanelForm)
        var random = TestRandom(seed: 5)
        let input = random.normals(count * columns)
        let output = matrix.multiply(input, count: count, pool: ComputePool(threads: 3))
        try Self.check(type, output: output, rows: rows, columns: columns, count: count, input: input, matrix: matrix,
                       weights: weights, bytes: bytes)
    }

    /// Weights laid out once (a workspace with a budget, as batched decoding uses): the same bits
    /// as unpacking them in every product, and products of a few rows take the panel too, within
    /// the same bound; a budget too small for the matrix leaves products as they were.
    @Test(arguments: WeightMatrixTests.quantizedTypes)
    func laidOutWeightsGiveTheSameProducts(_ type: GGMLType) throws {
        let rows = 10, columns = Self.width(type)
        let (matrix, weights, bytes) = try WeightMatrixTests.matrixAndBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 3)
        var random = TestRandom(seed: 8)
        let pool = ComputePool(threads: 2)
        for count in [3, 13] {
            let input = random.normals(count * columns)
            func product(budget: Int) -> [Float] {
                let workspace = MatmulWorkspace()
                workspace.laidWeightBudget = budget
                var output = [Float](repeating: .nan, count: rows * count)
                input.withUnsafeBufferPointer { x in
                    output.withUnsafeMutableBufferPointer { y in
                        matrix.multiply(x.baseAddress!, count: count, into: y.baseAddress!, workspace: workspace, pool: pool)
                    }
                }
                return output
            }
            let plain = product(budget: 0), laid = product(budget: 1 << 24), tooSmall = product(budget: 64)
            #expect(tooSmall == plain, "\(type) \(count): a budget that does not hold the matrix changes nothing")
            if count >= matrix.panelMinimum || loco_panel_preferred() == 0 {
                #expect(laid == plain, "\(type) \(count): laid out once, the same bits")
            }
            try Self.check(type, output: laid, rows: rows, columns: columns, count: count, input: input, matrix: matrix,
                           weights: weights, bytes: bytes)
        }
    }

    /// A product past one block of weight rows (32) and one block of inputs (as many as about
    /// 192 KiB of activations hold): every entry has the bits the same input gets in a product
    /// of only a few inputs (one block each way), so the blocking skips, repeats or misplaces nothing.
    @Test(arguments: [GGMLType.q8_0, .q4_1, .q4_K, .q6_K])
    func blockedProductsEqualSmallOnes(_ type: GGMLType) throws {
        let rows = 70, columns = type.blockSize == 32 ? 256 : 512
        let count = 2 * (192 * 1024) / loco_panel_row_bytes(columns) + 24
        let (matrix, _, _) = try WeightMatrixTests.matrixAndBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 5)
        var random = TestRandom(seed: 9)
        let input = random.normals(count * columns)
        let pool = ComputePool(threads: 2)
        let whole = matrix.multiply(input, count: count, pool: pool)
        var mismatches = 0
        // Groups as small as still take the panel form (8; 64 for the K formats under AVX2).
        let group = matrix.panelMinimum
        for start in stride(from: 0, to: count, by: group) {
            let n = min(group, count - start)
            guard n == group else { break }
            let part = matrix.multiply(Array(input[(start * columns)..<((start + n) * columns)]), count: n, pool: pool)
            if part != Array(whole[(start * rows)..<((start + n) * rows)]) { mismatches += 1 }
        }
        #expect(mismatches == 0, "\(type): \(mismatches) groups of \(group) inputs differ from the \(count)-input product")
    }

    /// The portable C tile (what runs without AVX-512 VNNI), called directly.
    @Test(arguments: WeightMatrixTests.quantizedTypes)
    func portablePanelKernelIsExactUpToFloatAdditions(_ type: GGMLType) throws {
        let rows = 6, columns = Self.width(type), count = 5
        let (matrix, weights, bytes) = try WeightMatrixTests.matrixAndBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 11)
        var random = TestRandom(seed: 6)
        let input = random.normals(count * columns)
        let format = matrix.activationFormat
        let code: Int32 = format == .q8_0 ? 0 : format == .q8_1 ? 1 : 2
        var activations = [UInt8](repeating: 0, count: format.rowBytes(columns) * count)
        input.withUnsafeBufferPointer { x in
            activations.withUnsafeMutableBytes { a in
                for t in 0..<count { format.convert(x.baseAddress! + t * columns, columns: columns, into: a.baseAddress! + t * format.rowBytes(columns)) }
            }
        }
        let panel = ByteBuffer(count: loco_panel_row_bytes(columns) * count)
        var output = [Float](repeating: .nan, count: rows * count)
        let saved = loco_cpu_feature_mask()
        loco_set_cpu_feature_mask(0)
        defer { loco_set_cpu_feature_mask(saved) }
        #expect(loco_panel_preferred() == 0)
        activations.withUnsafeBytes { a in
            loco_panel_activations(code, a.baseAddress!, format.rowBytes(columns), count, columns, panel.pointer)
        }
        let done = bytes.withUnsafeBytes { w in
            output.withUnsafeMutableBufferPointer { y in
                loco_panel_gemm(Int32(type.rawValue), w.baseAddress!, bytes.count / rows, 0, rows, columns, panel.pointer, count,
                                y.baseAddress!, rows)
            }
        }
        #expect(done == 1)
        try Self.check(type, output: output, rows: rows, columns: columns, count: count, input: input, matrix: matrix,
                       weights: weights, bytes: bytes)
    }

    /// Types without a panel form are refused, and writing nothing.
    @Test func unsupportedTypesAreRefused() {
        #expect(loco_panel_supports(Int32(GGMLType.f32.rawValue)) == 0)
        #expect(loco_panel_supports(Int32(GGMLType.iq4_XS.rawValue)) == 0)
        var output: [Float] = [42]
        let done = output.withUnsafeMutableBufferPointer { y in
            loco_panel_gemm(Int32(GGMLType.f16.rawValue), nil, 0, 0, 1, 32, nil, 1, y.baseAddress!, 1)
        }
        #expect(done == 0 && output == [42])
    }
}
