import Foundation
import GGUFFormat
import Quantization

/// A tiny llama-family GGUF written in Swift (random weights: matrices in `matrixType`, norms in
/// F32), with hooks to break it: the model the configuration and loading tests mutate, and the
/// session tests run without peers.
public struct TinyModel {
    public init(architecture: String = "llama", width: Int = 32, ffn: Int = 64, layers: Int = 2, heads: Int = 4,
                kvHeads: Int = 2, vocab: Int = 40, context: Int = 64, headDimension: Int? = nil, tied: Bool = false) {
        self.architecture = architecture
        self.width = width
        self.ffn = ffn
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.vocab = vocab
        self.context = context
        self.headDimension = headDimension
        self.tied = tied
    }

    public var architecture = "llama"
    public var width = 32, ffn = 64, layers = 2, heads = 4, kvHeads = 2, vocab = 40, context = 64
    public var headDimension: Int? = nil
    public var tied = false
    /// Q8_0 by default: each output of a quantized product is one kernel call, so results do not
    /// depend on how positions are batched (BLAS's F32 products may).
    public var matrixType = GGMLType.q8_0
    /// Applied to the metadata last.
    public var editMetadata: (inout GGUFMetadata) -> Void = { _ in }
    /// Tensors to add (name, shape) or leave out.
    public var extraTensors: [(String, [Int])] = []
    public var omittedTensors: Set<String> = []
    public var shapeOverrides: [String: [Int]] = [:]

    public var keyLength: Int { headDimension ?? width / heads }

    public var tensors: [(String, [Int])] {
        var list: [(String, [Int])] = [("token_embd.weight", [width, vocab]), ("output_norm.weight", [width])]
        if !tied { list.append(("output.weight", [width, vocab])) }
        for i in 0..<layers {
            let b = "blk.\(i)."
            list += [(b + "attn_norm.weight", [width]), (b + "attn_q.weight", [width, heads * keyLength]),
                     (b + "attn_k.weight", [width, kvHeads * keyLength]), (b + "attn_v.weight", [width, kvHeads * keyLength]),
                     (b + "attn_output.weight", [heads * keyLength, width]), (b + "ffn_norm.weight", [width]),
                     (b + "ffn_gate.weight", [width, ffn]), (b + "ffn_up.weight", [width, ffn]), (b + "ffn_down.weight", [ffn, width])]
            if architecture == "qwen3" { list += [(b + "attn_q_norm.weight", [keyLength]), (b + "attn_k_norm.weight", [keyLength])] }
        }
        return list.filter { !omittedTensors.contains($0.0) }.map { ($0.0, shapeOverrides[$0.0] ?? $0.1) } + extraTensors
    }

    public var metadata: GGUFMetadata {
        var m = GGUFMetadata()
        let a = architecture
        m["general.architecture"] = .string(a)
        m["\(a).block_count"] = .uint32(UInt32(layers))
        m["\(a).context_length"] = .uint32(UInt32(context))
        m["\(a).embedding_length"] = .uint32(UInt32(width))
        m["\(a).feed_forward_length"] = .uint32(UInt32(ffn))
        m["\(a).attention.head_count"] = .uint32(UInt32(heads))
        m["\(a).attention.head_count_kv"] = .uint32(UInt32(kvHeads))
        if let headDimension { m["\(a).attention.key_length"] = .uint32(UInt32(headDimension)) }
        m["\(a).rope.freq_base"] = .float32(10000)
        m["\(a).attention.layer_norm_rms_epsilon"] = .float32(1e-5)
        editMetadata(&m)
        return m
    }

    /// Writes the model to a fresh temporary file and returns its path.
    public func write(seed: UInt64 = 1) throws -> String {
        var writer = GGUFWriter(metadata: metadata)
        for (name, shape) in tensors { try writer.addTensor(name: name, shape: shape, type: shape.count == 2 ? matrixType : .f32) }
        let path = RandomModels.scratch("tiny-\(UUID().uuidString).gguf")
        var state = seed
        try writer.write(to: path) { tensor, sink in
            let values: [Float] = (0..<tensor.elementCount).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let u = Float(state >> 40) / Float(1 << 24) - 0.5
                return tensor.name.hasSuffix("norm.weight") ? 1 + 0.2 * u : u / 2
            }
            if tensor.type == .f32 {
                try sink.write(contentsOf: values)
            } else {
                try sink.write(contentsOf: BlockCodec.quantize(tensor.type, values))
            }
        }
        return path
    }
}
