import GGUFFormat

/// The tokens of a model file and what llama.cpp derives from them: attributes, special ids, the
/// end-of-generation set, and which tokens are matched whole in text.
struct Vocabulary: Sendable {
    /// Token texts as stored, one arena.
    let textBytes: [UInt8]
    let textStarts: [Int32]
    var attributes: [TokenAttributes]
    /// SentencePiece scores (empty when the file has none).
    let scores: [Float]

    var bos: Int32?
    var eos: Int32?
    var eot: Int32?
    var eom: Int32?
    var unknown: Int32?
    var padding: Int32?
    var fimPrefix: Int32?
    var fimSuffix: Int32?
    var fimMiddle: Int32?
    var fimPad: Int32?
    var fimRepository: Int32?
    var fimSeparator: Int32?
    /// Ids that end generation, sorted.
    var endOfGeneration: [Int32] = []
    /// Control, user-defined and unknown tokens, longest text first: the order llama.cpp matches
    /// them in text.
    var specialTokens: [Int32] = []

    var count: Int { attributes.count }

    func text(_ id: Int32) -> ArraySlice<UInt8> { textBytes[Int(textStarts[Int(id)])..<Int(textStarts[Int(id) + 1])] }

    func textString(_ id: Int32) -> String { String(decoding: text(id), as: UTF8.self) }

    func contains(_ id: Int32) -> Bool { id >= 0 && Int(id) < count }

    /// Reads `tokenizer.ggml.tokens`, `.token_type` and `.scores`; the special ids start at the
    /// model's defaults and are overridden by the metadata.
    init(metadata: GGUFMetadata, defaults: SpecialDefaults) throws {
        let tokens = try Vocabulary.stringArray(metadata, "tokenizer.ggml.tokens")
        let n = tokens.count
        var bytes: [UInt8] = []
        var starts: [Int32] = [0]
        starts.reserveCapacity(n + 1)
        tokens.withStringBytes { index, raw in
            if raw.isEmpty {
                // llama.cpp names empty tokens so that every text maps back to one id.
                bytes.append(contentsOf: Array("[EMPTY_\(index)]".utf8))
            } else {
                bytes.append(contentsOf: raw)
            }
            starts.append(Int32(bytes.count))
        }
        textBytes = bytes
        textStarts = starts

        if metadata.contains("tokenizer.ggml.token_type") {
            let types = try Vocabulary.integers(metadata, "tokenizer.ggml.token_type", atLeast: n)
            attributes = (0..<n).map { TokenAttributes(ggmlTokenType: types[$0]) }
        } else {
            attributes = Array(repeating: .normal, count: n)
        }

        if metadata.contains("tokenizer.ggml.scores") {
            let array = try Vocabulary.array(metadata, "tokenizer.ggml.scores")
            guard array.count >= n else {
                throw TokenizerError(.invalidMetadata(key: "tokenizer.ggml.scores", reason: "\(array.count) scores for \(n) tokens"))
            }
            if array.elementType == .float32 || array.elementType == .float64 {
                scores = Array(try array.floats(key: "tokenizer.ggml.scores").prefix(n))
            } else if array.elementType.isInteger {
                scores = try array.integers(key: "tokenizer.ggml.scores").prefix(n).map { Float($0) }
            } else {
                throw TokenizerError(.invalidMetadata(key: "tokenizer.ggml.scores", reason: "expected FLOAT32 or INT32 elements, found \(array.elementType.name)"))
            }
        } else {
            scores = []
        }

        func special(_ key: String, _ fallback: Int32?) throws -> Int32? {
            let start = fallback.flatMap { $0 >= 0 && Int($0) < n ? $0 : nil }
            guard metadata.contains(key) else { return start }
            let value: Int64
            do { value = try metadata.integer(key, as: Int64.self) } catch let error as GGUFError {
                throw TokenizerError(.invalidMetadata(key: key, reason: GGUFError(error.kind).description))
            }
            // Like llama.cpp, an id outside the vocabulary keeps the default.
            return value >= 0 && value < n ? Int32(value) : start
        }
        bos = try special("tokenizer.ggml.bos_token_id", defaults.bos)
        eos = try special("tokenizer.ggml.eos_token_id", defaults.eos)
        eot = try special("tokenizer.ggml.eot_token_id", nil)
        eom = try special("tokenizer.ggml.eom_token_id", nil)
        unknown = try special("tokenizer.ggml.unknown_token_id", defaults.unknown)
        padding = try special("tokenizer.ggml.padding_token_id", nil)
        fimPrefix = try special("tokenizer.ggml.fim_pre_token_id", nil)
        fimSuffix = try special("tokenizer.ggml.fim_suf_token_id", nil)
        fimMiddle = try special("tokenizer.ggml.fim_mid_token_id", nil)
        fimPad = try special("tokenizer.ggml.fim_pad_token_id", nil)
        fimRepository = try special("tokenizer.ggml.fim_rep_token_id", nil)
        fimSeparator = try special("tokenizer.ggml.fim_sep_token_id", nil)
        fimPrefix = try special("tokenizer.ggml.prefix_token_id", fimPrefix)
        fimSuffix = try special("tokenizer.ggml.suffix_token_id", fimSuffix)
        fimMiddle = try special("tokenizer.ggml.middle_token_id", fimMiddle)
    }

    /// The special ids a tokenizer model starts with before the metadata is read (llama.cpp's).
    struct SpecialDefaults {
        var bos: Int32?
        var eos: Int32?
        var unknown: Int32?
    }

    // MARK: Adjustments by token text (llama.cpp's llama_vocab::impl::load)

    /// Finds end-of-turn, fill-in-the-middle and end-of-generation tokens by their text, marks
    /// them control tokens, and lists the tokens matched whole in text. llama.cpp walks an
    /// unordered map, so where two candidate texts exist its pick is unspecified; this takes the
    /// first in its list.
    mutating func deriveSpecialTokens(modelName: String, preTokenizerName: String, architecture: String) {
        let found = idsOfTexts(Vocabulary.allCandidateTexts)
        func first(_ candidates: [String]) -> Int32? { candidates.lazy.compactMap { found[$0] }.first }
        func markControl(_ id: Int32?) { if let id { attributes[Int(id)].insert(.control) } }

        if eot == nil { eot = first(Vocabulary.endOfTurnTexts); markControl(eot) }
        if eom == nil { eom = first(["<|eom_id|>"]); markControl(eom) }
        if fimPrefix == nil { fimPrefix = first(Vocabulary.fimPrefixTexts); markControl(fimPrefix) }
        if fimSuffix == nil { fimSuffix = first(Vocabulary.fimSuffixTexts); markControl(fimSuffix) }
        if fimMiddle == nil { fimMiddle = first(Vocabulary.fimMiddleTexts); markControl(fimMiddle) }
        if fimPad == nil { fimPad = first(Vocabulary.fimPadTexts); markControl(fimPad) }
        if fimRepository == nil { fimRepository = first(Vocabulary.fimRepositoryTexts); markControl(fimRepository) }
        if fimSeparator == nil { fimSeparator = first(["<|file_sep|>"]); markControl(fimSeparator) }

        // Control tokens named "unused" are placeholders.
        for id in attributes.indices where attributes[id].contains(.control) && !attributes[id].contains(.unused) {
            if text(Int32(id)).firstRange(of: Array("unused".utf8)) != nil { attributes[id].insert(.unused) }
        }

        var endOfGeneration = Set([fimPad, fimRepository, fimSeparator].compactMap { $0 })
        for text in Vocabulary.endOfGenerationTexts {
            guard let id = found[text] else { continue }
            endOfGeneration.insert(id)
            markControl(id)
        }
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let id = found[text] { attributes[Int(id)] = .userDefined }
        }
        for id in [eos, eot, eom].compactMap({ $0 }) { endOfGeneration.insert(id) }

        // gpt-oss (harmony) and solar-open: "<|end|>" ends a message, not the generation.
        let eogTexts = Dictionary(endOfGeneration.map { (textString($0), $0) }, uniquingKeysWith: { a, _ in a })
        if let end = eogTexts["<|end|>"],
           (eogTexts["<|return|>"] != nil && eogTexts["<|call|>"] != nil) || (eogTexts["<|calls|>"] != nil && eogTexts["<|flush|>"] != nil) {
            endOfGeneration.remove(end)
            attributes[Int(end)] = .userDefined
        }
        // Gemma 4 and PLaMo have an ordinary "</s>".
        if let s = eogTexts["</s>"], eogTexts["<|tool_response>"] != nil || eogTexts["<|plamo:eos|>"] != nil {
            endOfGeneration.remove(s)
            attributes[Int(s)] = .normal
        }
        self.endOfGeneration = endOfGeneration.sorted()

        specialTokens = attributes.indices.filter { !attributes[$0].isDisjoint(with: .special) }.map(Int32.init)
        specialTokens.sort { a, b in
            let la = textStarts[Int(a) + 1] - textStarts[Int(a)]
            let lb = textStarts[Int(b) + 1] - textStarts[Int(b)]
            return la != lb ? la > lb : a < b
        }

        // Per-model whitespace stripping around matched tokens.
        let name = modelName.lowercased()
        if ["jina-v2-de", "jina-v2-es", "jina-v2-code"].contains(where: preTokenizerName.contains)
            || ["nomic-bert-moe", "jina-bert-v3"].contains(where: architecture.contains) {
            if let id = idsOfTexts(["<mask>"])["<mask>"] { attributes[Int(id)].insert(.stripsLeft) }
        } else if name.contains("phi-3") || name.contains("phi3") {
            for id in specialTokens { attributes[Int(id)].insert(.stripsRight) }
            let texts = idsOfTexts(["</s>", "<unk>", "<s>", "<|endoftext|>"])
            if let id = texts["</s>"] { attributes[Int(id)].insert(.stripsRight) }
            for text in ["<unk>", "<s>", "<|endoftext|>"] { if let id = texts[text] { attributes[Int(id)].remove(.stripsRight) } }
        } else if name.contains("modern-bert") {
            if let id = idsOfTexts(["[MASK]"])["[MASK]"] { attributes[Int(id)].insert(.stripsLeft) }
        }
    }

    /// The ids of tokens whose stored text is one of `texts` (the last id when texts repeat).
    func idsOfTexts(_ texts: [String]) -> [String: Int32] {
        let wanted = Dictionary(texts.map { (Array($0.utf8), $0) }, uniquingKeysWith: { a, _ in a })
        var lengths = [Bool](repeating: false, count: 64)
        var firstBytes = [Bool](repeating: false, count: 256)
        for key in wanted.keys where key.count < 64 {
            lengths[key.count] = true
            firstBytes[Int(key[0])] = true
        }
        var found: [String: Int32] = [:]
        for id in 0..<count {
            let start = Int(textStarts[id]), length = Int(textStarts[id + 1]) - start
            guard length < 64, lengths[length], firstBytes[Int(textBytes[start])] else { continue }
            if let text = wanted[Array(textBytes[start..<(start + length)])] { found[text] = Int32(id) }
        }
        return found
    }

    static let endOfTurnTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
        "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ]
    static let fimPrefixTexts = [
        "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>",
    ]
    static let fimSuffixTexts = [
        "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>",
    ]
    static let fimMiddleTexts = [
        "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>",
    ]
    static let fimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]
    static let fimRepositoryTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]
    static let endOfGenerationTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ]
    static let allCandidateTexts = endOfTurnTexts + fimPrefixTexts + fimSuffixTexts + fimMiddleTexts + fimPadTexts
        + fimRepositoryTexts + endOfGenerationTexts + ["<|eom_id|>", "<|file_sep|>", "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]

    // MARK: Metadata helpers with typed errors

    static func array(_ metadata: GGUFMetadata, _ key: String) throws -> GGUFArray {
        do { return try metadata.array(key) } catch let error as GGUFError {
            if case .keyNotFound = error.kind { throw TokenizerError(.noVocabulary(missingKey: key)) }
            throw TokenizerError(.invalidMetadata(key: key, reason: GGUFError(error.kind).description))
        }
    }

    static func stringArray(_ metadata: GGUFMetadata, _ key: String) throws -> GGUFArray {
        let array = try array(metadata, key)
        guard array.elementType == .string else {
            throw TokenizerError(.invalidMetadata(key: key, reason: "expected an array of STRING, found an array of \(array.elementType.name)"))
        }
        return array
    }

    static func integers(_ metadata: GGUFMetadata, _ key: String, atLeast count: Int) throws -> [Int64] {
        let array = try array(metadata, key)
        let values: [Int64]
        do { values = try array.integers(key: key) } catch let error as GGUFError {
            throw TokenizerError(.invalidMetadata(key: key, reason: GGUFError(error.kind).description))
        }
        guard values.count >= count else {
            throw TokenizerError(.invalidMetadata(key: key, reason: "\(values.count) values for \(count) tokens"))
        }
        return values
    }

    static func string(_ metadata: GGUFMetadata, _ key: String) throws -> String? {
        guard metadata.contains(key) else { return nil }
        do { return try metadata.string(key) } catch let error as GGUFError {
            throw TokenizerError(.invalidMetadata(key: key, reason: GGUFError(error.kind).description))
        }
    }

    static func bool(_ metadata: GGUFMetadata, _ key: String) throws -> Bool? {
        guard metadata.contains(key) else { return nil }
        do { return try metadata.bool(key) } catch let error as GGUFError {
            throw TokenizerError(.invalidMetadata(key: key, reason: GGUFError(error.kind).description))
        }
    }
}
