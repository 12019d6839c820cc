import CBLAS
import CKernels
import GGUFFormat

/// A weight matrix of a linear layer, over a GGUF tensor's bytes: `rows` output features, each a
/// row of `columns` = ne[0] input features, in the tensor's own block format.
///
/// Quantized weights stay where the file maps them (zero copy). F16 and BF16 weights are widened
/// to F32 once, at load, so their products run in BLAS (this doubles their memory; it is exact).
/// F32 weights are used in place.
///
/// Products quantize or round their input as llama.cpp does for the same weight type
/// (``ActivationFormat``), then take quantized dot products (CKernels) or BLAS float products,
/// split by rows over a ``ComputePool``.
public struct WeightMatrix: Sendable {
    public let name: String
    /// The type the weights are stored in, in the file.
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    /// What inputs are converted to before the product.
    public let activationFormat: ActivationFormat
    let storage: Storage

    /// The weights of `tensor`, which must be a matrix (a vector counts as one row) of a type with
    /// a dot product.
    public init(_ tensor: GGUFTensorData) throws {
        let info = tensor.info
        guard info.shape.dropFirst(2).allSatisfy({ $0 == 1 }) else {
            throw TensorError.notAMatrix(tensor: info.name, shape: info.shape)
        }
        let storage: Storage = try tensor.withUnsafeBytes { bytes in
            try Storage(type: info.type, name: info.name, rows: info.rowCount, columns: info.rowLength,
                        bytes: bytes, owner: tensor.storage)
        }
        try self.init(name: info.name, type: info.type, rows: info.rowCount, columns: info.rowLength, storage: storage)
    }

    /// A matrix over a copy of `bytes`: `rows` rows of `columns` values encoded as `type`.
    public init(name: String, type: GGMLType, rows: Int, columns: Int, bytes: [UInt8]) throws {
        let storage = try bytes.withUnsafeBytes { raw in
            try Storage(type: type, name: name, rows: rows, columns: columns, bytes: raw, owner: nil)
        }
        try self.init(name: name, type: type, rows: rows, columns: columns, storage: storage)
    }

    /// An F32 matrix over a copy of `values` (row-major, `rows` x `columns`).
    public init(name: String, rows: Int, columns: Int, values: [Float]) throws {
        let bytes = values.withUnsafeBytes { Array($0) }
        try self.init(name: name, type: .f32, rows: rows, columns: columns, bytes: bytes)
    }

    private init(name: String, type: GGMLType, rows: Int, columns: Int, storage: Storage) throws {
        guard let format = ActivationFormat(weights: type) else {
            throw TensorError.unsupportedWeightType(tensor: name, type: type)
        }
        self.name = name
        self.type = type
        self.rows = rows
        self.columns = columns
        self.activationFormat = format
        self.storage = storage
    }

    // MARK: Products

    /// `output[t][r] = sum_c row_r[c] * input[t][c]` for `count` input rows: `input` is
    /// `count` x `columns`, `output` is `count` x `rows`, both row-major.
    public func multiply(
        _ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>,
        workspace: MatmulWorkspace, numerics: Numerics = .fast, pool: ComputePool = .shared
    ) {
        WeightMatrix.multiply([Product(self, output)], input: input, count: count, workspace: workspace, numerics: numerics, pool: pool)
    }

    /// `input` (`count` x `columns`) times this matrix's transpose, as a new array (`count` x `rows`).
    public func multiply(_ input: [Float], count: Int, numerics: Numerics = .fast, pool: ComputePool = .shared) -> [Float] {
        precondition(input.count == count * columns, "input must be count x columns")
        var output = [Float](repeating: 0, count: count * rows)
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                multiply(x.baseAddress!, count: count, into: y.baseAddress!, workspace: MatmulWorkspace(), numerics: numerics, pool: pool)
            }
        }
        return output
    }

    /// One matrix of a fused product and where its `count` x `rows` output goes.
    public struct Product {
        public let matrix: WeightMatrix
        public let output: UnsafeMutablePointer<Float>

        public init(_ matrix: WeightMatrix, _ output: UnsafeMutablePointer<Float>) {
            self.matrix = matrix
            self.output = output
        }
    }

    /// Several products of the same input (Q, K and V; gate and up) in one parallel region: the
    /// input is converted once per activation format, and the rows of all matrices are split
    /// over the pool together. With ``Numerics/llamaCpp`` the dot products run in the variant
    /// whose float order is ggml's.
    public static func multiply(
        _ products: [Product], input: UnsafePointer<Float>, count: Int,
        workspace: MatmulWorkspace, numerics: Numerics = .fast, pool: ComputePool = .shared
    ) {
        guard count > 0, let columns = products.first?.matrix.columns else { return }
        precondition(products.allSatisfy { $0.matrix.columns == columns }, "fused products need the same input width")
        var activations: [(ActivationFormat, UnsafeRawPointer)] = []
        for product in products where !activations.contains(where: { $0.0 == product.matrix.activationFormat }) {
            let format = product.matrix.activationFormat
            activations.append((format, workspace.convert(input, count: count, columns: columns, to: format, pool: pool)))
        }
        let totalRows = products.reduce(0) { $0 + $1.matrix.rows }
        let panelAllowed = numerics == .fast && !workspace.rowInvariant && loco_panel_preferred() != 0
        let laid = panelAllowed && count >= 2 && workspace.laidWeightBudget > 0
            ? products.map { workspace.laidOut($0.matrix, pool: pool) } : []
        let allLaid = !laid.isEmpty && laid.allSatisfy { $0 != nil }
        if panelAllowed, count >= products.map({ $0.matrix.panelMinimum }).max()! || allLaid,
           products.allSatisfy({ $0.matrix.hasPanelForm }) {
            var panels: [(ActivationFormat, UnsafeRawPointer)] = []
            for (format, converted) in activations {
                panels.append((format, workspace.panel(converted, count: count, columns: columns, format: format, pool: pool)))
            }
            pool.forEachRange(totalRows) { range in
                var start = 0
                for (index, product) in products.enumerated() {
                    let matrix = product.matrix
                    let lower = max(range.lowerBound, start), upper = min(range.upperBound, start + matrix.rows)
                    if lower < upper {
                        let panel = panels.first { $0.0 == matrix.activationFormat }!.1
                        let done = if let rows = laid.isEmpty ? nil : laid[index] {
                            loco_panel_gemm_laid(Int32(matrix.type.rawValue), rows, lower - start, upper - lower, columns, panel, count,
                                                 product.output, matrix.rows)
                        } else {
                            loco_panel_gemm(Int32(matrix.type.rawValue), matrix.storage.base, matrix.storage.rowBytes,
                                            lower - start, upper - lower, columns, panel, count, product.output, matrix.rows)
                        }
                        precondition(done != 0, "panel product of \(matrix.name) failed (out of memory)")
                    }
                    start += matrix.rows
                }
            }
            return
        }
        // Small products are not worth waking the workers for.
        let work = totalRows * columns * count
        let rowInvariant = workspace.rowInvariant
        let region: (Range<Int>) -> Void = { range in numerics.withKernels {
            var start = 0
            for product in products {
                let matrix = product.matrix
                let lower = max(range.lowerBound, start), upper = min(range.upperBound, start + matrix.rows)
                if lower < upper {
                    let input = activations.first { $0.0 == matrix.activationFormat }!.1
                    matrix.multiplyRows((lower - start)..<(upper - start), activations: input, count: count, into: product.output,
                                        numerics: numerics, rowInvariant: rowInvariant)
                }
                start += matrix.rows
            }
        } }
        if work < 32 * 1024 { region(0..<totalRows) } else { pool.forEachRange(totalRows, region) }
    }

    /// Input rows from which products in ``Numerics/fast`` go through the panel kernels
    /// (`loco_panel_gemm`), which unpack each weight row once for all inputs: below it, the
    /// unpacking costs more than it saves.
    package static let panelMinimumCount = 8

    /// Input rows from which this matrix's fast products take the panel form. Q4_K, Q5_K and
    /// Q6_K under the AVX2 set have several-input kernels that unpack a super-block once for four
    /// inputs: on the 0.85B Q4_K_M model (Zen 4, one thread) they prefill at 61 tokens/s from 4 to
    /// 64 inputs, where the panel form gives 37 at 16, 50 at 32 and 63 at 64.
    package var panelMinimum: Int {
        // The AVX2 set is where those kernels unpack once; the other sets run the one-row kernel
        // per input (CKernels' `multi_k`).
        [.q4_K, .q5_K, .q6_K].contains(type) && Self.threadKernelSet == .avx2 ? 64 : Self.panelMinimumCount
    }

    /// Whether products go through the quantized kernels (not BLAS): their rows are computed one
    /// by one, so a row's bits do not depend on how many rows share the product within a kernel
    /// family (row kernels, multi-input kernels, panel kernels).
    package var isQuantized: Bool {
        if case .quantized = storage.kernel { return true }
        return false
    }

    /// Whether products can go through the panel kernels (every quantized type with a dot product).
    var hasPanelForm: Bool {
        guard case .quantized = storage.kernel else { return false }
        return loco_panel_supports(Int32(type.rawValue)) != 0
    }

    /// Rows `range` of the product, for inputs already in `activationFormat`. `rowInvariant`:
    /// each input row gets the bits a product of that row alone gives (see
    /// ``MatmulWorkspace/rowInvariant``).
    func multiplyRows(
        _ range: Range<Int>, activations: UnsafeRawPointer, count: Int, into output: UnsafeMutablePointer<Float>, numerics: Numerics,
        rowInvariant: Bool = false
    ) {
        switch storage.kernel {
        case .float:
            let x = activations.assumingMemoryBound(to: Float.self)
            let w = storage.base.assumingMemoryBound(to: Float.self) + range.lowerBound * columns
            if rowInvariant && count > 1 {
                for t in 0..<count {
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(range.count), Int32(columns), 1, w, Int32(columns),
                                x + t * columns, 1, 0, output + t * rows + range.lowerBound, 1)
                }
            } else if count == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(range.count), Int32(columns), 1, w, Int32(columns),
                            x, 1, 0, output + range.lowerBound, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(range.count), Int32(columns), 1,
                            x, Int32(columns), w, Int32(columns), 0, output + range.lowerBound, Int32(rows))
            }
        case .quantized(let rowDot):
            // ggml's own order where it differs from the row kernels' (GGMLNumerics.kernel); it
            // may depend on the input row.
            let ggml = numerics == .llamaCpp
            let dot = ggml ? GGMLNumerics.kernel(type: type, rows: rows, count: count, index: 0) ?? rowDot : rowDot
            let rowBytes = storage.rowBytes
            let activationBytes = activationFormat.rowBytes(columns)
            let base = storage.base
            if type == .q4_0, ggml ? rows % 8 == 0 : [.avx2, .avx512].contains(Self.threadKernelSet) {
                // Q4_0 in ggml's repacked order: llama.cpp's order for a matrix of whole groups of
                // 8 rows, and the fastest product on x86 below the panel form; every input row on
                // its own, so a row's bits never depend on the others (batched decoding).
                for t in 0..<count {
                    loco_vec_dot_rows_repacked_q4_0_q8_0(columns, base + range.lowerBound * rowBytes, rowBytes, range.count,
                                                         activations + t * activationBytes, output + t * rows + range.lowerBound)
                }
                return
            }
            if count == 1 {
                // Several rows per call where the row kernels' own order is wanted (the same bits).
                if !ggml || GGMLNumerics.kernel(type: type, rows: rows, count: count, index: 0) == nil,
                   let rowsDot = Storage.rowsKernel(type) {
                    rowsDot(columns, base + range.lowerBound * rowBytes, rowBytes, range.count, activations, output + range.lowerBound)
                    return
                }
                for r in range { output[r] = dot(columns, base + r * rowBytes, activations) }
                return
            }
            if !ggml, let multiDot = Storage.multiKernel(type) {
                // Several inputs per weight row (each row stays in L1 while they pass), the row
                // kernels' own order: each entry has the bits a one-row product gives it.
                multiDot(columns, base + range.lowerBound * rowBytes, rowBytes, range.count, activations, activationBytes, count,
                         output + range.lowerBound, rows)
                return
            }
            // A tile of weight rows stays in L1/L2 while every input row passes over it.
            let tile = max(1, 16 * 1024 / rowBytes)
            var tileStart = range.lowerBound
            while tileStart < range.upperBound {
                let tileEnd = min(range.upperBound, tileStart + tile)
                for t in 0..<count {
                    let a = activations + t * activationBytes
                    let out = output + t * rows
                    let dot = ggml ? GGMLNumerics.kernel(type: type, rows: rows, count: count, index: t) ?? rowDot : rowDot
                    for r in tileStart..<tileEnd { out[r] = dot(columns, base + r * rowBytes, a) }
                }
                tileStart = tileEnd
            }
        }
    }

    /// The kernel set running on this thread (the process's, lowered by a test's thread mask or
    /// by ``Numerics/llamaCpp``'s kernel features).
    static var threadKernelSet: KernelSet { KernelSet(features: loco_cpu_features()) }

    // MARK: Rows

    /// Row `index` as floats (an embedding lookup), bit-identical with ggml's `get_rows`.
    public func row(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < rows, "row \(index) out of 0..<\(rows)")
        let source = storage.base + index * storage.rowBytes
        switch storage.kernel {
        case .float: destination.update(from: source.assumingMemoryBound(to: Float.self), count: columns)
        case .quantized: storage.dequantizeRow!(source, destination, columns)
        }
    }

    public func row(_ index: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: columns) { buffer, count in
            row(index, into: buffer.baseAddress!)
            count = columns
        }
    }

    /// The bytes behind the weights and how products use them.
    final class Storage: @unchecked Sendable {
        typealias Dot = @convention(c) (Int, UnsafeRawPointer?, UnsafeRawPointer?) -> Float
        typealias DequantizeRow = @convention(c) (UnsafeRawPointer?, UnsafeMutablePointer<Float>?, Int) -> Void
        enum Kernel { case float, quantized(Dot) }

        /// Valid while `owner` (the mapped file) or `buffer` lives: a mapping never moves.
        let base: UnsafeRawPointer
        let rowBytes: Int
        let kernel: Kernel
        let dequantizeRow: DequantizeRow?
        private let owner: AnyObject?
        private let buffer: ByteBuffer?

        init(type: GGMLType, name: String, rows: Int, columns: Int, bytes: UnsafeRawBufferPointer, owner: AnyObject?) throws {
            guard let rowBytes = type.rowByteCount(columns), columns % type.blockSize == 0 else {
                throw TensorError.notAMatrix(tensor: name, shape: [columns, rows])
            }
            guard bytes.count == rowBytes * rows else {
                throw TensorError.sizeMismatch(tensor: name, expected: rowBytes * rows, actual: bytes.count)
            }
            let kernels = Storage.kernels(type)
            switch type {
            case .f16, .bf16:
                let widened = ByteBuffer(count: rows * columns * 4)
                let halves = bytes.baseAddress!.assumingMemoryBound(to: UInt16.self)
                let floats = widened.pointer.assumingMemoryBound(to: Float.self)
                if type == .f16 { loco_f16_to_f32_row(halves, floats, rows * columns) }
                else { loco_bf16_to_f32_row(halves, floats, rows * columns) }
                self.buffer = widened
                self.owner = nil
                self.base = UnsafeRawPointer(widened.pointer)
                self.rowBytes = columns * 4
                self.kernel = .float
                self.dequantizeRow = nil
            case .f32 where owner == nil || Int(bitPattern: bytes.baseAddress) % 4 != 0:
                let copy = ByteBuffer(count: bytes.count)
                copy.pointer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                self.buffer = copy
                self.owner = nil
                self.base = UnsafeRawPointer(copy.pointer)
                self.rowBytes = rowBytes
                self.kernel = .float
                self.dequantizeRow = nil
            case .f32:
                self.buffer = nil
                self.owner = owner
                self.base = bytes.baseAddress!
                self.rowBytes = rowBytes
                self.kernel = .float
                self.dequantizeRow = nil
            default:
                guard let (dot, dequantize) = kernels else { throw TensorError.unsupportedWeightType(tensor: name, type: type) }
                if let owner {
                    self.buffer = nil
                    self.owner = owner
                    self.base = bytes.baseAddress!
                } else {
                    let copy = ByteBuffer(count: bytes.count)
                    copy.pointer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                    self.buffer = copy
                    self.owner = nil
                    self.base = UnsafeRawPointer(copy.pointer)
                }
                self.rowBytes = rowBytes
                self.kernel = .quantized(dot)
                self.dequantizeRow = dequantize
            }
        }

        typealias RowsDot = @convention(c) (Int, UnsafeRawPointer?, Int, Int, UnsafeRawPointer?, UnsafeMutablePointer<Float>?) -> Void

        typealias MultiDot = @convention(c) (Int, UnsafeRawPointer?, Int, Int, UnsafeRawPointer?, Int, Int, UnsafeMutablePointer<Float>?, Int) -> Void

        /// The kernel of rows times several inputs, where one exists (the 32-value formats, Q4_K, Q5_K, Q6_K).
        static func multiKernel(_ type: GGMLType) -> MultiDot? {
            switch type {
            case .q4_0: loco_vec_dot_multi_q4_0_q8_0
            case .q4_1: loco_vec_dot_multi_q4_1_q8_1
            case .q5_0: loco_vec_dot_multi_q5_0_q8_0
            case .q5_1: loco_vec_dot_multi_q5_1_q8_1
            case .q8_0: loco_vec_dot_multi_q8_0_q8_0
            case .q4_K: loco_vec_dot_multi_q4_K_q8_K
            case .q5_K: loco_vec_dot_multi_q5_K_q8_K
            case .q6_K: loco_vec_dot_multi_q6_K_q8_K
            default: nil
            }
        }

        /// The several-rows product of `type` (one activation vector), where there is one.
        static func rowsKernel(_ type: GGMLType) -> RowsDot? {
            switch type {
            case .q4_0: loco_vec_dot_rows_q4_0_q8_0
            case .q4_1: loco_vec_dot_rows_q4_1_q8_1
            case .q5_0: loco_vec_dot_rows_q5_0_q8_0
            case .q5_1: loco_vec_dot_rows_q5_1_q8_1
            case .q8_0: loco_vec_dot_rows_q8_0_q8_0
            default: nil
            }
        }

        static func kernels(_ type: GGMLType) -> (Dot, DequantizeRow)? {
            switch type {
            case .q4_0: (loco_vec_dot_q4_0_q8_0, loco_dequantize_row_q4_0)
            case .q4_1: (loco_vec_dot_q4_1_q8_1, loco_dequantize_row_q4_1)
            case .q5_0: (loco_vec_dot_q5_0_q8_0, loco_dequantize_row_q5_0)
            case .q5_1: (loco_vec_dot_q5_1_q8_1, loco_dequantize_row_q5_1)
            case .q8_0: (loco_vec_dot_q8_0_q8_0, loco_dequantize_row_q8_0)
            case .q2_K: (loco_vec_dot_q2_K_q8_K, loco_dequantize_row_q2_K)
            case .q3_K: (loco_vec_dot_q3_K_q8_K, loco_dequantize_row_q3_K)
            case .q4_K: (loco_vec_dot_q4_K_q8_K, loco_dequantize_row_q4_K)
            case .q5_K: (loco_vec_dot_q5_K_q8_K, loco_dequantize_row_q5_K)
            case .q6_K: (loco_vec_dot_q6_K_q8_K, loco_dequantize_row_q6_K)
            case .tq1_0: (loco_vec_dot_tq1_0_q8_K, loco_dequantize_row_tq1_0)
            case .tq2_0: (loco_vec_dot_tq2_0_q8_K, loco_dequantize_row_tq2_0)
            default: nil
            }
        }
    }
}

/// Scratch memory products convert their input into, grown on demand and reused. Not
/// thread-safe: each session owns one.
public final class MatmulWorkspace: @unchecked Sendable {
    private var buffers: [ActivationFormat: ByteBuffer] = [:]

    public init() {}

    /// Bytes of weights this workspace may keep laid out as the panel kernel reads them (0:
    /// none). Products of a few input rows (batched decoding) then skip unpacking the weights,
    /// which otherwise costs more than the arithmetic; each matrix is laid out on its first
    /// product, until the budget is spent.
    public var laidWeightBudget = 0
    /// When set, a product of several input rows gives each row exactly the bits a product of
    /// that row alone gives: no panel kernels, float weights one row at a time. Slower for many
    /// rows; what batched decoding across independent requests needs, so that a reply does not
    /// depend on which other requests shared its steps.
    public var rowInvariant = false
    private var laidWeights: [UnsafeRawPointer: ByteBuffer] = [:]
    private var laidBytes = 0

    /// `matrix` laid out for `loco_panel_gemm_laid`, or nil when it has no panel form or the
    /// budget does not hold it.
    func laidOut(_ matrix: WeightMatrix, pool: ComputePool) -> UnsafeRawPointer? {
        guard laidWeightBudget > 0, matrix.hasPanelForm else { return nil }
        let base = UnsafeRawPointer(matrix.storage.base)
        if let kept = laidWeights[base] { return UnsafeRawPointer(kept.pointer) }
        let bytes = matrix.rows * loco_panel_row_bytes(matrix.columns)
        guard laidBytes + bytes <= laidWeightBudget else { return nil }
        let buffer = ByteBuffer(count: bytes)
        var failed = false
        pool.forEachRange(matrix.rows) { rows in
            if loco_panel_lay_out_weights(Int32(matrix.type.rawValue), matrix.storage.base, matrix.storage.rowBytes,
                                          rows.lowerBound, rows.count, matrix.columns, buffer.pointer) == 0 { failed = true }
        }
        guard !failed else { return nil }
        laidWeights[base] = buffer
        laidBytes += bytes
        return UnsafeRawPointer(buffer.pointer)
    }

    private var panels: [ActivationFormat: ByteBuffer] = [:]

    /// The buffer of `format` in `store`, replaced by a larger one when it holds fewer than `bytes`.
    private static func scratch(_ store: inout [ActivationFormat: ByteBuffer], _ format: ActivationFormat, bytes: Int)
        -> UnsafeMutableRawPointer
    {
        if let existing = store[format], existing.count >= bytes { return existing.pointer }
        let buffer = ByteBuffer(count: bytes)
        store[format] = buffer
        return buffer.pointer
    }

    /// Activations already in `format` (`count` rows) as panel rows for `loco_panel_gemm`, valid
    /// until the next call with `format`.
    func panel(_ activations: UnsafeRawPointer, count: Int, columns: Int, format: ActivationFormat, pool: ComputePool) -> UnsafeRawPointer {
        let code: Int32 = switch format {
        case .q8_0: 0
        case .q8_1: 1
        default: 2
        }
        let panelRowBytes = loco_panel_row_bytes(columns), sourceRowBytes = format.rowBytes(columns)
        let destination = Self.scratch(&panels, format, bytes: panelRowBytes * count)
        pool.forEachRange(count) { rows in
            loco_panel_activations(code, activations + rows.lowerBound * sourceRowBytes, sourceRowBytes, rows.count, columns,
                                   destination + rows.lowerBound * panelRowBytes)
        }
        return UnsafeRawPointer(destination)
    }

    /// `input` (`count` x `columns`) converted to `format`, valid until the next call with `format`.
    func convert(_ input: UnsafePointer<Float>, count: Int, columns: Int, to format: ActivationFormat, pool: ComputePool) -> UnsafeRawPointer {
        if format == .f32 { return UnsafeRawPointer(input) }
        let rowBytes = format.rowBytes(columns)
        let destination = Self.scratch(&buffers, format, bytes: rowBytes * count)
        if count * columns < 64 * 1024 {
            for t in 0..<count { format.convert(input + t * columns, columns: columns, into: destination + t * rowBytes) }
        } else {
            pool.forEachRange(count) { rows in
                for t in rows { format.convert(input + t * columns, columns: columns, into: destination + t * rowBytes) }
            }
        }
        return UnsafeRawPointer(destination)
    }
}
