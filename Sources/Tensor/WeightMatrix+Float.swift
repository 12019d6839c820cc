import CBLAS
import CKernels

/// Where ``WeightMatrix/floatMultiply(_:count:into:workspace:pool:)`` and its transpose get
/// float weights from quantized ones: a scratch panel of dequantized rows (16 MB at most, reused),
/// and a cache of whole matrices dequantized once, up to `cacheLimit` bytes. A small base (a
/// 135M model is 0.5 GB in F32) is then dequantized once per run instead of twice per step; a
/// large one dequantizes a panel at a time and never holds more than the limit. The file's
/// weights are never changed. Not thread-safe; a trainer owns one.
public final class DequantizedPanel: @unchecked Sendable {
    /// Floats one panel holds at most (16 MB): bounds the memory of a product over any matrix.
    public static let panelFloats = 4 << 20
    private var buffer = FloatBuffer(count: 0)
    /// Bytes of whole dequantized matrices kept at most.
    public let cacheLimit: Int
    public private(set) var cachedBytes = 0
    private var cache: [String: FloatBuffer] = [:]

    public init(cacheLimit: Int = 0) {
        self.cacheLimit = cacheLimit
    }

    func pointer(count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.count < count { buffer = FloatBuffer(count: count) }
        return buffer.pointer
    }

    /// The whole matrix `name` in F32 if it is cached or fits in the cache (then dequantized now).
    func cached(_ matrix: WeightMatrix, pool: ComputePool) -> UnsafePointer<Float>? {
        if let hit = cache[matrix.name] { return UnsafePointer(hit.pointer) }
        let bytes = matrix.rows * matrix.columns * 4
        guard cachedBytes + bytes <= cacheLimit else { return nil }
        let whole = FloatBuffer(count: matrix.rows * matrix.columns)
        matrix.dequantizeRows(0..<matrix.rows, into: whole.pointer, pool: pool)
        cache[matrix.name] = whole
        cachedBytes += bytes
        return UnsafePointer(whole.pointer)
    }
}

extension WeightMatrix {
    /// Whether the weights are F32 in memory (F32, or F16/BF16 widened at load).
    var isFloat: Bool {
        if case .float = storage.kernel { return true }
        return false
    }

    /// Rows `first..<first + count` of the matrix per panel: all when the weights are float
    /// already, else as many as `DequantizedPanel.panelFloats` holds.
    private func panelRows(_ workspace: DequantizedPanel, _ pool: ComputePool) -> Int {
        isFloat || workspace.cached(self, pool: pool) != nil ? rows : max(1, min(rows, DequantizedPanel.panelFloats / columns))
    }

    /// The rows `range` as F32: in place (float weights), from the workspace's cache, or
    /// dequantized into its panel in parallel.
    private func floatRows(_ range: Range<Int>, buffer: DequantizedPanel, pool: ComputePool) -> UnsafePointer<Float> {
        if isFloat { return storage.base.assumingMemoryBound(to: Float.self) + range.lowerBound * columns }
        if let whole = buffer.cached(self, pool: pool) { return whole + range.lowerBound * columns }
        let panel = buffer.pointer(count: range.count * columns)
        dequantizeRows(range, into: panel, pool: pool)
        return UnsafePointer(panel)
    }

    /// Dequantizes rows `range` into `destination` (row `range.lowerBound` first), split over the pool.
    func dequantizeRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>, pool: ComputePool) {
        guard let dequantize = storage.dequantizeRow else {
            for r in range { row(r, into: destination + (r - range.lowerBound) * columns) }
            return
        }
        let base = storage.base, rowBytes = storage.rowBytes, columns = columns
        pool.forEachRange(range.count) { part in
            for r in part { dequantize(base + (range.lowerBound + r) * rowBytes, destination + r * columns, columns) }
        }
    }

    /// `output` (`count` x `rows`) `= input` (`count` x `columns`) times the transpose of this
    /// matrix in F32: quantized weights are dequantized a panel of rows at a time (never the whole
    /// matrix) and multiplied in BLAS, the rows of each panel split over the pool. This is the
    /// float function training differentiates (QLoRA's: the quantized weights dequantized, the
    /// activations in full precision); inference's products quantize the activations instead.
    public func floatMultiply(
        _ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>,
        workspace: DequantizedPanel, pool: ComputePool = .shared
    ) {
        guard count > 0 else { return }
        var first = 0
        while first < rows {
            let range = first..<min(rows, first + panelRows(workspace, pool))
            let weights = floatRows(range, buffer: workspace, pool: pool)
            pool.forEachRange(range.count) { part in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(part.count), Int32(self.columns), 1,
                            input, Int32(self.columns), weights + part.lowerBound * self.columns, Int32(self.columns),
                            0, output + range.lowerBound + part.lowerBound, Int32(self.rows))
            }
            first = range.upperBound
        }
    }

    /// The backward of ``floatMultiply(_:count:into:workspace:pool:)`` with respect to its input:
    /// `inputGradient` (`count` x `columns`) `= outputGradient` (`count` x `rows`) times this
    /// matrix, added to what is there when `accumulate`. The columns are split over the pool.
    public func floatMultiplyTransposed(
        _ outputGradient: UnsafePointer<Float>, count: Int, into inputGradient: UnsafeMutablePointer<Float>,
        accumulate: Bool, workspace: DequantizedPanel, pool: ComputePool = .shared
    ) {
        guard count > 0 else { return }
        var first = 0
        while first < rows {
            let range = first..<min(rows, first + panelRows(workspace, pool))
            let weights = floatRows(range, buffer: workspace, pool: pool)
            let beta: Float = accumulate || first > 0 ? 1 : 0
            pool.forEachRange(columns) { part in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(part.count), Int32(range.count), 1,
                            outputGradient + range.lowerBound, Int32(self.rows), weights + part.lowerBound, Int32(self.columns),
                            beta, inputGradient + part.lowerBound, Int32(self.columns))
            }
            first = range.upperBound
        }
    }
}
