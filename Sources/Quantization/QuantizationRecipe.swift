import GGUFFormat

/// Chooses each tensor's type for a file type, with llama.cpp's rules (`llama_tensor_get_type`
/// without an importance matrix): tensors never quantized, the mixed recipes (`Q4_K_M` gives
/// `attn_v` and `ffn_down` more bits in some layers, `Q3_K_M` and `Q3_K_L` likewise), the output
/// matrix (or the token embedding when the two are tied) in Q6_K, and the fallbacks when a row
/// length is not a multiple of the type's block size. Checked against llama.cpp's quantizer on the
/// same files (tests compare every tensor's type and bytes).
public struct QuantizationRecipe: Sendable {
    public var fileType: QuantizationFileType
    /// Every quantizable tensor gets the default type (llama-quantize's `--pure`).
    public var pure: Bool

    public init(_ fileType: QuantizationFileType, pure: Bool = false) {
        self.fileType = fileType
        self.pure = pure
    }

    /// The hyper-parameters the rules look at.
    public struct ModelShape: Sendable {
        public var architecture: String
        public var layerCount: Int
        public var headCount: Int
        public var headCountKV: Int
        public var expertCount: Int

        public init(architecture: String, layerCount: Int, headCount: Int, headCountKV: Int, expertCount: Int = 0) {
            self.architecture = architecture
            self.layerCount = layerCount
            self.headCount = headCount
            self.headCountKV = headCountKV
            self.expertCount = expertCount
        }

        /// Reads them from a model's metadata; arrays of per-layer values use the first layer's.
        public init(metadata: GGUFMetadata) throws {
            let arch = try metadata.string(GGUFKey.architecture)
            func int(_ key: String) throws -> Int? {
                guard let value = metadata["\(arch).\(key)"] else { return nil }
                if case .array(let array) = value { return try array.integers(key: "\(arch).\(key)").first.map(Int.init) }
                return try metadata.integer("\(arch).\(key)")
            }
            guard let layers = try int("block_count") else { throw GGUFError(.keyNotFound("\(arch).block_count")) }
            let heads = try int("attention.head_count") ?? 0
            self.init(architecture: arch, layerCount: layers, headCount: heads,
                      headCountKV: try int("attention.head_count_kv") ?? heads, expertCount: try int("expert_count") ?? 0)
        }

        /// Query heads per key-value head (llama.cpp's `n_gqa`).
        var groupedQueryFactor: Int { headCountKV > 0 ? headCount / headCountKV : 0 }
        var isLlama70B: Bool { architecture == "llama" && layerCount == 80 && headCount != headCountKV }
        var isFalcon: Bool { architecture == "falcon" }
    }

    /// What one tensor becomes.
    public struct Decision: Sendable, Equatable {
        public var name: String
        public var from: GGMLType
        public var to: GGMLType
        /// The tensor's type was chosen by a row-length fallback.
        public var fellBack: Bool
    }

    /// Decides the type of every tensor, in llama.cpp's processing order (layer, then name),
    /// which the per-layer counters depend on. Throws when no type fits a tensor's rows.
    public func plan(tensors: [GGUFTensorInfo], shape: ModelShape) throws -> [Decision] {
        var state = Counters()
        let ordered = QuantizationRecipe.processingOrder(tensors)
        state.attentionV = ordered.filter { Category($0.name).isAttentionV }.count
        state.tiedEmbeddings = !ordered.contains { Category($0.name) == .output }
        return try ordered.map { tensor in try decide(tensor, shape: shape, state: &state) }
    }

    /// llama.cpp's order: tensors outside `blk.N.` first, then by layer number, then by name.
    public static func processingOrder(_ tensors: [GGUFTensorInfo]) -> [GGUFTensorInfo] {
        tensors.sorted { a, b in
            let la = layerNumber(a.name) ?? -1, lb = layerNumber(b.name) ?? -1
            if la != lb { return la < lb }
            return Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
        }
    }

    /// N in a name starting `blk.N.`.
    static func layerNumber(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        let digits = name.dropFirst(4).prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, name.dropFirst(4 + digits.count).first == "." else { return nil }
        return Int(digits)
    }

    // MARK: Rules

    enum Category: Equatable {
        case tokenEmbedding, attentionQ, attentionV, attentionK, attentionQKV, attentionKVB, attentionOutput
        case ffnUp, ffnGate, ffnDown, output, other

        init(_ name: String) {
            if name == "output.weight" { self = .output }
            else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" { self = .tokenEmbedding }
            else if name.contains("attn_qkv.weight") { self = .attentionQKV }
            else if name.contains("attn_kv_b.weight") { self = .attentionKVB }
            else if name.contains("attn_v.weight") { self = .attentionV }
            else if name.contains("attn_k.weight") { self = .attentionK }
            else if name.contains("attn_q.weight") { self = .attentionQ }
            else if name.contains("attn_output.weight") { self = .attentionOutput }
            else if name.contains("ffn_up") { self = .ffnUp }
            else if name.contains("ffn_gate") { self = .ffnGate }
            else if name.contains("ffn_down") { self = .ffnDown }
            else { self = .other }
        }

        var isAttentionV: Bool { self == .attentionV || self == .attentionQKV || self == .attentionKVB }
    }

    struct Counters {
        var attentionV = 0
        var iAttentionV = 0
        var iFFNDown = 0
        var iFFNGate = 0
        var iFFNUp = 0
        var tiedEmbeddings = true
    }

    /// Names llama.cpp never quantizes, besides 1-D tensors and norms.
    static let neverQuantized = [
        "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
        "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
        "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
        "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
        ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
    ]

    /// Whether llama.cpp would quantize this tensor at all.
    public static func allowsQuantization(_ tensor: GGUFTensorInfo) -> Bool {
        // ggml counts dimensions up to the last one larger than 1.
        let dimensions = (tensor.shape.lastIndex { $0 != 1 } ?? 0) + 1
        guard dimensions >= 2 else { return false }
        let name = tensor.name
        guard name.hasSuffix("weight"), !name.contains("_norm.weight") else { return false }
        guard name != "position_embd.weight", name != "token_types.weight" else { return false }
        return !neverQuantized.contains { name.contains($0) }
    }

    func decide(_ tensor: GGUFTensorInfo, shape: ModelShape, state: inout Counters) throws -> Decision {
        guard QuantizationRecipe.allowsQuantization(tensor) else {
            return Decision(name: tensor.name, from: tensor.type, to: tensor.type, fellBack: false)
        }
        let base = fileType.defaultType
        guard base.isQuantized else {
            return Decision(name: tensor.name, from: tensor.type, to: base, fellBack: false)
        }
        var chosen = base
        if !pure {
            chosen = mixedType(tensor, base: base, category: Category(tensor.name), shape: shape, state: &state)
        }
        let (final, fellBack) = try QuantizationRecipe.fallback(chosen, rowLength: tensor.rowLength, tensor: tensor.name)
        return Decision(name: tensor.name, from: tensor.type, to: final, fellBack: fellBack)
    }

    /// llama.cpp's types for row lengths that are not a multiple of the chosen type's block.
    static func fallback(_ type: GGMLType, rowLength: Int, tensor: String) throws -> (GGMLType, Bool) {
        guard rowLength % type.blockSize != 0 else { return (type, false) }
        let replacement: GGMLType
        switch type {
        case .q2_K, .q3_K, .tq1_0, .tq2_0: replacement = .q4_0
        case .q4_K: replacement = .q5_0
        case .q5_K: replacement = .q5_1
        case .q6_K: replacement = .q8_0
        case _ where type.blockSize <= 32:
            // Already a 32-element type: no smaller block to demote to, so F16 below.
            replacement = type
        default:
            throw QuantizationError.noFallback(tensor: tensor, type: type, rowLength: rowLength)
        }
        return (rowLength % replacement.blockSize == 0 ? replacement : .f16, true)
    }

    func mixedType(_ tensor: GGUFTensorInfo, base: GGMLType, category: Category, shape: ModelShape, state: inout Counters) -> GGMLType {
        var type = base
        let ftype = fileType
        func useMoreBits(_ i: Int, _ n: Int) -> Bool { i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2 }
        func layer(_ counter: Int) -> Int {
            guard shape.expertCount > 1 else { return counter }
            return QuantizationRecipe.layerNumber(tensor.name) ?? counter
        }
        let n = shape.layerCount

        if category == .output || (state.tiedEmbeddings && category == .tokenEmbedding) {
            if shape.isFalcon || tensor.rowLength % type.blockSize != 0 {
                type = .q8_0
            } else if type != .q8_0 {
                type = .q6_K
            }
        } else if category == .tokenEmbedding {
            if ftype == .tq1_0 || ftype == .tq2_0 { type = .q4_K }
        } else if category.isAttentionV {
            switch ftype {
            case .q2_K: type = shape.groupedQueryFactor >= 4 ? .q4_K : .q3_K
            case .q3_K_M: type = state.iAttentionV < 2 ? .q5_K : .q4_K
            case .q3_K_L: type = .q5_K
            case .q4_K_M, .q5_K_M: if useMoreBits(state.iAttentionV, state.attentionV) { type = .q6_K }
            case .q4_K_S: if state.iAttentionV < 4 { type = .q5_K }
            default: break
            }
            if shape.isLlama70B, type == .q3_K || type == .q4_K { type = .q5_K }
            if shape.expertCount == 8 { type = .q8_0 }
            state.iAttentionV += 1
        } else if category == .attentionK {
            if shape.expertCount == 8 { type = .q8_0 }
        } else if category == .ffnDown {
            let i = layer(state.iFFNDown)
            switch ftype {
            case .q2_K: type = .q3_K
            case .q3_K_M:
                type = i < n / 16 ? .q5_K : (!shape.isFalcon || useMoreBits(i, n)) ? .q4_K : .q3_K
            case .q3_K_L: type = shape.isFalcon ? .q4_K : .q5_K
            case .q4_K_M:
                if shape.isFalcon {
                    type = i < n / 16 ? .q6_K : useMoreBits(i, n) ? .q5_K : .q4_K
                } else if useMoreBits(i, n) {
                    type = .q6_K
                }
            case .q5_K_M: if useMoreBits(i, n) { type = .q6_K }
            case .q4_K_S: if !shape.isFalcon && i < n / 8 { type = .q5_K }
            default: break
            }
            state.iFFNDown += 1
        } else if category == .attentionOutput {
            if !shape.isFalcon {
                if shape.expertCount == 8 {
                    if [.q2_K, .q3_K_S, .q3_K_M, .q4_K_S, .q4_K_M].contains(ftype) { type = .q5_K }
                } else {
                    switch ftype {
                    case .q2_K: type = .q3_K
                    case .q3_K_M: type = .q4_K
                    case .q3_K_L: type = .q5_K
                    default: break
                    }
                }
            } else if ftype == .q3_K_L {
                type = .q4_K
            }
        } else if category == .ffnGate {
            state.iFFNGate += 1
        } else if category == .ffnUp {
            state.iFFNUp += 1
        }
        return type
    }
}
