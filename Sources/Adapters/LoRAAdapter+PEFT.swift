import Inference
import LocoSupport

/// PEFT's format: a folder with `adapter_config.json` (`r`, `lora_alpha`, `target_modules`,
/// `base_model_name_or_path`, options) and `adapter_model.safetensors`, whose tensors are named
/// `base_model.model.<module>.lora_A.weight` (`r x in`) and `.lora_B.weight` (`out x r`); an
/// embedding's are `base_model.model.model.embed_tokens.lora_embedding_A` (`r x vocab`) and
/// `.lora_embedding_B` (`width x r`).
///
/// Modules map to GGUF tensors as llama.cpp's converter maps them: `model.layers.N.self_attn.`
/// `q_proj`/`k_proj`/`v_proj`/`o_proj` to `blk.N.attn_q`/`attn_k`/`attn_v`/`attn_output`,
/// `model.layers.N.mlp.gate_proj`/`up_proj`/`down_proj` to `blk.N.ffn_gate`/`ffn_up`/`ffn_down`,
/// `model.embed_tokens` to `token_embd`, `lm_head` to `output`.
extension LoRAAdapter {
    public static let peftConfigName = "adapter_config.json"
    public static let peftWeightsName = "adapter_model.safetensors"
    /// Largest `adapter_config.json` read (real ones are about a kilobyte).
    static let maximumConfigBytes = 1 << 24

    private static let peftPrefix = "base_model.model."

    /// Reads the PEFT adapter in `folder`. Options that change the computation in ways this SDK
    /// does not run (DoRA, `fan_in_fan_out`, per-module `rank_pattern`/`alpha_pattern`, LoRA
    /// biases, `modules_to_save`) are refused; `use_rslora` is honoured through ``Scaling``.
    public init(peftFolder folder: String) throws {
        let configPath = folder + "/" + LoRAAdapter.peftConfigName
        guard FileSystem.exists(configPath) else { throw LoRAError(.missingFile(LoRAAdapter.peftConfigName), path: folder) }
        let config: PEFTConfig
        do {
            config = try PEFTConfig(bytes: FileSystem.read(configPath, limit: LoRAAdapter.maximumConfigBytes))
        } catch let failure as FileSystemFailure {
            throw LoRAError(failure)
        } catch var error as LoRAError {
            error.path = configPath
            throw error
        }

        let weightsPath = folder + "/" + LoRAAdapter.peftWeightsName
        guard FileSystem.exists(weightsPath) else {
            if FileSystem.exists(folder + "/adapter_model.bin") {
                throw LoRAError(.missingFile("\(LoRAAdapter.peftWeightsName) (adapter_model.bin, a PyTorch pickle, is not read: save the adapter with safe_serialization=True)"), path: folder)
            }
            throw LoRAError(.missingFile(LoRAAdapter.peftWeightsName), path: folder)
        }
        let file = try SafeTensorsFile(contentsOf: weightsPath)
        func failure(_ kind: LoRAError.Kind) -> LoRAError { LoRAError(kind, path: weightsPath) }

        var halves: [String: (a: SafeTensorsTensorInfo?, b: SafeTensorsTensorInfo?)] = [:]
        for tensor in file.tensors {
            let (target, isA) = try LoRAAdapter.peftTarget(tensor.name, path: weightsPath)
            guard tensor.shape.count == 2, tensor.shape[0] > 0, tensor.shape[1] > 0 else {
                throw failure(.notAMatrix(tensor: tensor.name, shape: tensor.shape))
            }
            if isA { halves[target, default: (nil, nil)].a = tensor } else { halves[target, default: (nil, nil)].b = tensor }
        }
        var weights: [String: LoRAWeights] = [:]
        for target in halves.keys.sorted(by: TargetNames.precedes) {
            let pair = halves[target]!
            let names = LoRAAdapter.peftTensorNames(target)!
            guard let aInfo = pair.a else { throw failure(.missingHalf(target: target, missing: names.a)) }
            guard let bInfo = pair.b else { throw failure(.missingHalf(target: target, missing: names.b)) }
            let a = LoRAMatrix(rows: aInfo.shape[0], columns: aInfo.shape[1], values: file.floats(aInfo))
            let b = LoRAMatrix(rows: bInfo.shape[0], columns: bInfo.shape[1], values: file.floats(bInfo))
            guard a.rows == b.columns else { throw failure(.rankMismatch(target: target, a: a.shape, b: b.shape)) }
            guard a.rows == config.rank else { throw failure(.configRankMismatch(target: target, rank: a.rows, configured: config.rank)) }
            weights[target] = LoRAWeights(a: a, b: b)
        }
        try self.init(
            weights: weights, alpha: config.alpha, scaling: config.rankStabilized ? .rankStabilized : .standard,
            metadata: Metadata(sourceFormat: .peft, path: folder, baseModel: config.baseModel, rowOrder: .huggingFace))
    }

    /// Writes the adapter as a PEFT folder: `adapter_model.safetensors` (F32) and then
    /// `adapter_config.json`, each atomically; the folder is created if missing (not its
    /// parents). An alpha of 0 (a GGUF file without alpha, scale 1) is written as `lora_alpha = r`,
    /// which gives PEFT the same scale.
    ///
    /// PEFT holds a llama model's query/key B rows in Hugging Face's order (see ``RowOrder``):
    /// an adapter in the GGUF's order with such targets needs `base` (its head counts) to be
    /// converted, and throws ``LoRAError/Kind/needsHeadCounts(target:)`` without it.
    public func writePEFT(to folder: String, base: ModelConfiguration? = nil) throws {
        if metadata.rowOrder == .gguf, let permuted = firstPermutedTarget {
            if let base {
                if base.architecture == .llama {
                    return try reordered(to: .huggingFace, heads: base.headCount, kvHeads: base.kvHeadCount).writePEFT(to: folder)
                }
            } else if metadata.baseArchitecture != nil {
                throw LoRAError(.needsHeadCounts(target: permuted), path: folder)
            }
        }
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        var modules = Set<String>()
        for target in targets {
            guard let names = LoRAAdapter.peftTensorNames(target), let module = TargetNames.peftModule(gguf: target) else {
                throw LoRAError(.unmappableTarget(target: target, format: "PEFT"), path: folder)
            }
            let pair = weights[target]!
            try writer.addTensor(name: names.a, shape: pair.a.shape, values: pair.a.values)
            try writer.addTensor(name: names.b, shape: pair.b.shape, values: pair.b.values)
            modules.insert(TargetNames.shortName(peftModule: module))
        }
        do {
            try FileSystem.makeDirectory(folder)
        } catch {
            throw LoRAError(error)
        }
        try writer.write(to: folder + "/" + LoRAAdapter.peftWeightsName)

        let alphaText: String
        let exportedAlpha = alpha == 0 ? Float(rank) : alpha
        if exportedAlpha == exportedAlpha.rounded(), abs(exportedAlpha) < 16_777_216 {
            alphaText = String(Int(exportedAlpha))
        } else {
            alphaText = exportedAlpha.description
        }
        let config = JSONObject([
            ("alpha_pattern", .object(JSONObject())),
            ("base_model_name_or_path", metadata.baseModel.map(JSONValue.string) ?? .null),
            ("bias", .string("none")),
            ("fan_in_fan_out", .bool(false)),
            ("inference_mode", .bool(true)),
            ("lora_alpha", .number(alphaText)),
            ("lora_dropout", .number("0.0")),
            ("modules_to_save", .null),
            ("peft_type", .string("LORA")),
            ("r", .number(String(rank))),
            ("rank_pattern", .object(JSONObject())),
            ("target_modules", .array(modules.sorted().map(JSONValue.string))),
            ("task_type", .string("CAUSAL_LM")),
            ("use_dora", .bool(false)),
            ("use_rslora", .bool(scaling == .rankStabilized)),
        ])
        do {
            try AtomicFile.write(Array((JSONWriter.encode(.object(config), pretty: true) + "\n").utf8),
                                 to: folder + "/" + LoRAAdapter.peftConfigName)
        } catch {
            throw LoRAError(error)
        }
    }

    /// The PEFT names of `target`'s A and B tensors, or nil when PEFT has no name for it.
    static func peftTensorNames(_ target: String) -> (a: String, b: String)? {
        guard let module = TargetNames.peftModule(gguf: target) else { return nil }
        let base = peftPrefix + module
        if TargetNames.isEmbedding(target) { return (base + ".lora_embedding_A", base + ".lora_embedding_B") }
        return (base + ".lora_A.weight", base + ".lora_B.weight")
    }

    /// The GGUF target of a PEFT tensor name and whether it is the A half.
    private static func peftTarget(_ name: String, path: String) throws(LoRAError) -> (String, Bool) {
        let suffixes: [(String, Bool, Bool)] = [
            (".lora_A.weight", true, false), (".lora_B.weight", false, false),
            (".lora_embedding_A", true, true), (".lora_embedding_B", false, true),
        ]
        func unexpected(_ reason: String) -> LoRAError { LoRAError(.unexpectedTensor(tensor: name, reason: reason), path: path) }
        guard name.hasPrefix(peftPrefix), let (suffix, isA, isEmbedding) = suffixes.first(where: { name.hasSuffix($0.0) }) else {
            throw unexpected("expected base_model.model.<module>.lora_A.weight or .lora_B.weight (or .lora_embedding_A/B for embed_tokens)")
        }
        let module = String(name.dropFirst(peftPrefix.count).dropLast(suffix.count))
        guard let target = TargetNames.gguf(peftModule: module) else {
            let known = TargetNames.layerModules.map { TargetNames.shortName(peftModule: $0.peft) } + ["embed_tokens", "lm_head"]
            throw unexpected("module '\(module)' is not one LocoLLM maps to a GGUF tensor (model.layers.N.{self_attn,mlp}.{\(known.joined(separator: ","))})")
        }
        guard TargetNames.isEmbedding(target) == isEmbedding else {
            throw unexpected(isEmbedding ? "lora_embedding_A/B belong to embed_tokens only" : "embed_tokens carries lora_embedding_A/B, not lora_A/B")
        }
        return (target, isA)
    }
}

/// The parts of `adapter_config.json` that decide what the adapter computes.
struct PEFTConfig {
    var rank: Int
    var alpha: Float
    var rankStabilized: Bool
    var baseModel: String?

    init(bytes: [UInt8]) throws(LoRAError) {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw LoRAError(.invalidConfig(error.description))
        }
        guard case .object(let config) = root else { throw LoRAError(.invalidConfig("the file is \(root.kindName), expected an object")) }

        func text(_ value: JSONValue) -> String { JSONWriter.encode(value, pretty: false) }
        func invalid(_ key: String, _ value: JSONValue, _ expected: String) -> LoRAError {
            LoRAError(.invalidValue(key: key, value: text(value), expected: expected))
        }
        func flag(_ key: String) throws(LoRAError) -> Bool {
            switch config[key] {
            case nil, .null?: return false
            case .bool(let b)?: return b
            case let other?: throw invalid(key, other, "true or false")
            }
        }
        func unsupported(_ key: String, _ reason: String) -> LoRAError {
            LoRAError(.unsupportedOption(key: key, value: text(config[key]!), reason: reason))
        }

        if let type = config["peft_type"], type.string != "LORA" {
            throw unsupported("peft_type", "only LoRA adapters are supported")
        }
        guard let rankValue = config["r"] else { throw LoRAError(.missingKey("r")) }
        guard let rank = rankValue.nonNegativeInteger, rank > 0 else { throw invalid("r", rankValue, "a positive integer") }
        guard let alphaValue = config["lora_alpha"] else { throw LoRAError(.missingKey("lora_alpha")) }
        guard let alpha = alphaValue.float, alpha.isFinite, alpha != 0 else {
            throw invalid("lora_alpha", alphaValue, "a finite non-zero number")
        }
        if try flag("use_dora") { throw unsupported("use_dora", "DoRA's magnitude vector is not applied by LocoLLM") }
        if try flag("fan_in_fan_out") { throw unsupported("fan_in_fan_out", "weights stored transposed (GPT-2's Conv1D) are not supported") }
        if try flag("lora_bias") { throw unsupported("lora_bias", "LoRA biases are not supported") }
        for key in ["rank_pattern", "alpha_pattern"] {
            switch config[key] {
            case nil, .null?: continue
            case .object(let pattern)? where pattern.members.isEmpty: continue
            default: throw unsupported(key, "per-module ranks and alphas are not supported: one rank and one alpha per adapter")
            }
        }
        switch config["modules_to_save"] {
        case nil, .null?: break
        case .array(let modules)? where modules.isEmpty: break
        default: throw unsupported("modules_to_save", "full copies of modules are not supported, only low-rank pairs")
        }
        if let bias = config["bias"], bias.string != "none" {
            throw unsupported("bias", "trained biases are not supported; only bias = \"none\"")
        }
        switch config["base_model_name_or_path"] {
        case nil, .null?: baseModel = nil
        case .string(let name)?: baseModel = name
        case let other?: throw invalid("base_model_name_or_path", other, "a string or null")
        }
        self.rank = rank
        self.alpha = alpha
        self.rankStabilized = try flag("use_rslora")
    }
}
