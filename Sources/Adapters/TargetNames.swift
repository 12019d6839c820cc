import LocoSupport
/// How adapted tensors are named: GGUF base-tensor names (the adapter's keys) and the module
/// paths PEFT uses for the llama family of Hugging Face models (Llama, Qwen2/3, SmolLM2, ...).
enum TargetNames {
    static let tokenEmbedding = "token_embd.weight"
    static let output = "output.weight"

    /// PEFT module in a decoder layer, and the GGUF tensor it is, in canonical order.
    static let layerModules: [(peft: String, gguf: String)] = [
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
    ]

    static let peftEmbedding = "model.embed_tokens"
    static let peftOutput = "lm_head"

    /// Whether `name` is the token embedding, whose A and B are laid out flipped in GGUF.
    static func isEmbedding(_ name: String) -> Bool { name == tokenEmbedding }

    /// `model.layers.3.self_attn.q_proj` -> `blk.3.attn_q.weight`; `model.embed_tokens` ->
    /// `token_embd.weight`; `lm_head` -> `output.weight`; nil for anything else.
    static func gguf(peftModule module: String) -> String? {
        if module == peftEmbedding { return tokenEmbedding }
        if module == peftOutput { return output }
        let parts = module.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "model", parts[1] == "layers", let block = blockIndex(parts[2]) else { return nil }
        let suffix = parts[3] + "." + parts[4]
        guard let gguf = layerModules.first(where: { $0.peft == suffix })?.gguf else { return nil }
        return "blk.\(block).\(gguf).weight"
    }

    /// The inverse of ``gguf(peftModule:)``.
    static func peftModule(gguf name: String) -> String? {
        if name == tokenEmbedding { return peftEmbedding }
        if name == output { return peftOutput }
        guard let (block, tensor) = blockTensor(name),
              let peft = layerModules.first(where: { $0.gguf == tensor })?.peft else { return nil }
        return "model.layers.\(block).\(peft)"
    }

    /// What PEFT's `target_modules` lists for a module path: its last component (`q_proj`).
    static func shortName(peftModule module: String) -> String {
        String(module.split(separator: ".").last ?? Substring(module))
    }

    /// `blk.N.TENSOR.weight` -> (N, TENSOR).
    static func blockTensor(_ name: String) -> (Int, String)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", parts[3] == "weight", let block = blockIndex(parts[1]) else { return nil }
        return (block, String(parts[2]))
    }

    /// Canonical order: embedding, blocks in order (q, k, v, output, gate, up, down, then others
    /// by name), the output layer, then anything else by name.
    static func precedes(_ a: String, _ b: String) -> Bool {
        let (ka, kb) = (sortKey(a), sortKey(b))
        if ka.group != kb.group { return ka.group < kb.group }
        if ka.block != kb.block { return ka.block < kb.block }
        if ka.position != kb.position { return ka.position < kb.position }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    private static func sortKey(_ name: String) -> (group: Int, block: Int, position: Int) {
        if name == tokenEmbedding { return (0, 0, 0) }
        if let (block, tensor) = blockTensor(name) {
            return (1, block, layerModules.firstIndex { $0.gguf == tensor } ?? layerModules.count)
        }
        if name == output { return (2, 0, 0) }
        return (3, 0, 0)
    }

    /// A block number written as ggml and PEFT write it: decimal digits, no sign, no leading zero.
    private static func blockIndex(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text == "0" || text.first != "0" else { return nil }
        return Int(text)
    }
}
