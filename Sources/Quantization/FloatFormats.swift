import CKernels
import GGUFFormat

/// F32: values stored as they are.
public enum F32Format: BlockFormat {
    public static let type = GGMLType.f32

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        destination.copyMemory(from: source, byteCount: blocks * 4)
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: blocks * 4)
    }
}

/// F16: IEEE binary16, rounded to nearest even as ggml's `GGML_FP32_TO_FP16` (F16C) does.
public enum F16Format: BlockFormat {
    public static let type = GGMLType.f16

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        loco_f32_to_f16_row(source, destination.assumingMemoryBound(to: UInt16.self), blocks)
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        loco_f16_to_f32_row(source.assumingMemoryBound(to: UInt16.self), destination, blocks)
    }
}

/// BF16: the high half of a float, rounded to nearest even; NaNs stay quiet NaNs (ggml's
/// `ggml_compute_fp32_to_bf16`).
public enum BF16Format: BlockFormat {
    public static let type = GGMLType.bf16

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        loco_f32_to_bf16_row(source, destination.assumingMemoryBound(to: UInt16.self), blocks)
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        loco_bf16_to_f32_row(source.assumingMemoryBound(to: UInt16.self), destination, blocks)
    }
}
