import CKernels
import GGUFFormat

/// The form a matrix product puts its input (the activations) in before multiplying, chosen by
/// the weight type exactly as ggml-cpu's `vec_dot_type` chooses it: that choice is what makes
/// logits match llama.cpp's (REFERENCE.md, "Dot products").
///
/// - Q4_0, Q5_0, Q8_0 weights take activations quantized to Q8_0; Q4_1 and Q5_1 to Q8_1 (which
///   carries the block sum their minimum multiplies); the K and TQ formats to Q8_K. The quantizers
///   are ggml-cpu's x86 ones, byte for byte.
/// - F16 and BF16 weights take activations rounded to F16 / BF16 (ggml converts them before its
///   F16 dot products); they stay stored as floats here so the product can run in BLAS on
///   weights converted to F32 at load. Products of two halves are exact in F32, so only the order
///   of the additions differs from ggml.
/// - F32 weights take the activations as they are.
public enum ActivationFormat: Sendable, Hashable, CustomStringConvertible {
    case f32, f16, bf16, q8_0, q8_1, q8_K

    /// The format products with `weights` use, or nil for a type without a dot product.
    public init?(weights: GGMLType) {
        switch weights {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        case .q4_0, .q5_0, .q8_0: self = .q8_0
        case .q4_1, .q5_1: self = .q8_1
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .tq1_0, .tq2_0: self = .q8_K
        default: return nil
        }
    }

    public var isQuantized: Bool {
        switch self {
        case .f32, .f16, .bf16: false
        case .q8_0, .q8_1, .q8_K: true
        }
    }

    /// Values per block (1 for the float formats).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q8_1: 32
        case .q8_K: 256
        }
    }

    /// Bytes one row of `columns` activations takes in this format (floats for the float formats).
    public func rowBytes(_ columns: Int) -> Int {
        switch self {
        case .f32, .f16, .bf16: columns * 4
        case .q8_0: columns / 32 * 34
        case .q8_1: columns / 32 * 36
        case .q8_K: columns / 256 * 292
        }
    }

    /// Converts one row of `columns` activations into this format at `destination`.
    public func convert(_ row: UnsafePointer<Float>, columns: Int, into destination: UnsafeMutableRawPointer) {
        switch self {
        case .f32:
            destination.copyMemory(from: row, byteCount: columns * 4)
        case .f16:
            ActivationFormat.roundThroughHalves(row, columns, destination.assumingMemoryBound(to: Float.self),
                                                loco_f32_to_f16_row, loco_f16_to_f32_row)
        case .bf16:
            ActivationFormat.roundThroughHalves(row, columns, destination.assumingMemoryBound(to: Float.self),
                                                loco_f32_to_bf16_row, loco_bf16_to_f32_row)
        case .q8_0: loco_quantize_row_q8_0(row, destination, columns)
        case .q8_1: loco_quantize_row_q8_1(row, destination, columns)
        case .q8_K: loco_quantize_row_q8_K(row, destination, columns)
        }
    }

    private static func roundThroughHalves(
        _ row: UnsafePointer<Float>, _ count: Int, _ out: UnsafeMutablePointer<Float>,
        _ narrow: (UnsafePointer<Float>?, UnsafeMutablePointer<UInt16>?, Int) -> Void,
        _ widen: (UnsafePointer<UInt16>?, UnsafeMutablePointer<Float>?, Int) -> Void
    ) {
        // Narrow in chunks through a stack buffer; `row` and `out` may be the same memory.
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 1024) { halves in
            var start = 0
            while start < count {
                let n = min(1024, count - start)
                narrow(row + start, halves.baseAddress!, n)
                widen(halves.baseAddress!, out + start, n)
                start += n
            }
        }
    }

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q8_K: "Q8_K"
        }
    }
}
