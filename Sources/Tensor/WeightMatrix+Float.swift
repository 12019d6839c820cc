import CBLAS
import CKernels

/// Scratch memory for ``WeightMatrix/floatMultiply(_:count:into:workspace:pool:)`` and its
/// transpose: one panel of dequantized rows, grown on demand. Not thread-safe; a trainer owns one.
public final class DequantizedPanel: @unchecked Sendable {
    /// Floats one panel holds at most (16 MB): bounds the memory of a product over any matrix.
    public static let panelFloats = 4 << 20
    private var buffer = FloatBuffer(count: 0)

    public init() {}

    func pointer(count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.count < count { buffer = FloatBuffer(count: count) }
        return buffer.pointer
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
    private var panelRows: Int { isFloat ? rows : max(1, min(rows, DequantizedPanel.panelFloats / columns)) }

    /// The rows `range` as F32, either in place (float weights) or dequantized into `buffer` in
    /// parallel.
    private func floatRows(_ range: Range<Int>, buffer: DequantizedPanel, pool: ComputePool) -> UnsafePointer<Float> {
        if isFloat { return storage.base.assumingMemoryBound(to: Float.self) + range.lowerBound * columns }
        let panel = buffer.pointer(count: range.count * columns)
        pool.forEachRange(range.count) { part in
            for r in part { self.row(range.lowerBound + r, into: panel + r * columns) }
        }
        return UnsafePointer(panel)
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
            let range = first..<min(rows, first + panelRows)
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
            let range = first..<min(rows, first + panelRows)
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
