import GGUFFormat

/// Text to token ids and back, built from a model file's metadata alone, matching llama.cpp token
/// for token.
///
/// Two tokenizer models are implemented: byte-level BPE (`tokenizer.ggml.model = gpt2`: Qwen,
/// Llama 3, SmolLM, GPT-2, StarCoder, ...) with the pre-tokenizer named by `tokenizer.ggml.pre`,
/// and SentencePiece-style BPE with byte fallback (`llama`: Llama 2, Phi-3, Gemma); also
/// `gemma4`'s BPE over raw UTF-8. Checked against llama.cpp's own tokenizer test vectors and,
/// on the default model, against llama.cpp itself on a few thousand strings.
///
/// ```swift
/// let tokenizer = try Tokenizer(gguf: GGUFFile(contentsOf: "model.gguf"))
/// let ids = tokenizer.encode("Hello, world!")            // [19556, 28, 905, 17]
/// tokenizer.decode(ids)                                   // "Hello, world!"
/// tokenizer.encode("<|im_start|>user", parseSpecial: true) // [1, 4093]
/// ```
///
/// A tokenizer is immutable apart from a cache of the words it has seen, and can be shared
/// between threads.
public final class Tokenizer: Sendable {
    /// The tokenizer model.
    public enum Model: Sendable, Equatable {
        /// BPE over the bytes of each word, after the named pre-tokenizer has cut the text.
        case bytePairEncoding(preTokenizer: String)
        /// SentencePiece-style BPE over characters, highest score first, with byte fallback.
        case sentencePiece
    }

    public let model: Model
    /// Whether `encode(_:addSpecial: true)` starts with the BOS token (`tokenizer.ggml.add_bos_token`,
    /// else the model's default).
    public let addsBOS: Bool
    /// Whether `encode(_:addSpecial: true)` ends with the EOS token (`tokenizer.ggml.add_eos_token`).
    public let addsEOS: Bool
    /// Whether SentencePiece text gets a leading space (`tokenizer.ggml.add_space_prefix`).
    public let addsSpacePrefix: Bool

    let vocabulary: Vocabulary
    let engine: Engine
    let specialTokens: SpecialTokenMatcher
    /// Spaces become `▁` before BPE (`gemma4`).
    let escapesWhitespace: Bool
    /// A word that is a token as a whole becomes that token without merging (Llama 3).
    let ignoresMerges: Bool
    let cache: WordCache?

    enum Engine: Sendable {
        case bytePairs(BytePairEncoder, PreTokenizer)
        case sentencePiece(SentencePieceEncoder)
    }

    /// Builds the tokenizer from `file`'s `tokenizer.*` metadata (a vocabulary-only file will do).
    ///
    /// - Parameter wordCacheCapacity: how many distinct words to remember (0: no cache). The cache
    ///   only saves time; results are the same without it.
    /// - Throws: `TokenizerError` when the file has no vocabulary, names a tokenizer or
    ///   pre-tokenizer this SDK does not implement, or has malformed tokenizer metadata.
    public convenience init(gguf file: GGUFFile, wordCacheCapacity: Int = 1 << 16) throws {
        do {
            try self.init(metadata: file.metadata, wordCacheCapacity: wordCacheCapacity)
        } catch var error as TokenizerError {
            error.path = file.path
            throw error
        }
    }

    init(metadata: GGUFMetadata, wordCacheCapacity: Int) throws {
        guard let modelName = try Vocabulary.string(metadata, "tokenizer.ggml.model") else {
            throw TokenizerError(.noVocabulary(missingKey: "tokenizer.ggml.model"))
        }
        var preName = try Vocabulary.string(metadata, "tokenizer.ggml.pre") ?? ""
        var addBOS = false, addEOS = false, addSpacePrefix = false
        var ignoresMerges = false, escapesWhitespace = false
        var defaults = Vocabulary.SpecialDefaults()
        let isBPE: Bool
        switch modelName {
        case "llama":
            isBPE = false
            defaults = .init(bos: 1, eos: 2, unknown: 0)
            addBOS = true
            addSpacePrefix = true
            preName = "default"
        case "gpt2":
            isBPE = true
            defaults = .init(bos: 11, eos: 11)
        case "gemma4":
            isBPE = true
            preName = "gemma4"
        default:
            throw TokenizerError(.unsupportedModel(modelName))
        }

        var preTokenizer: PreTokenizer?
        if isBPE {
            guard let pre = PreTokenizer(named: preName) else { throw TokenizerError(.unsupportedPreTokenizer(preName)) }
            preTokenizer = pre
            switch preName {
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
                ignoresMerges = true
                addBOS = true
            case "chatglm-bpe":
                defaults.bos = nil
            case "glm4", "glm5":
                defaults.bos = nil
                ignoresMerges = true
            case "gemma4", "granite-embed-multi-311m", "sarvam-moe":
                escapesWhitespace = true
            default:
                break
            }
        }

        var vocabulary = try Vocabulary(metadata: metadata, defaults: defaults)
        addSpacePrefix = try Vocabulary.bool(metadata, "tokenizer.ggml.add_space_prefix") ?? addSpacePrefix
        addBOS = try Vocabulary.bool(metadata, "tokenizer.ggml.add_bos_token") ?? addBOS
        addEOS = try Vocabulary.bool(metadata, "tokenizer.ggml.add_eos_token") ?? addEOS
        if preName == "gemma4" { addBOS = true }  // llama.cpp's override for Gemma 4
        vocabulary.deriveSpecialTokens(
            modelName: try Vocabulary.string(metadata, "general.name") ?? "",
            preTokenizerName: try Vocabulary.string(metadata, "tokenizer.ggml.pre") ?? "",
            architecture: try Vocabulary.string(metadata, "general.architecture") ?? "")

        if let preTokenizer {
            let merges = try Vocabulary.stringArray(metadata, "tokenizer.ggml.merges")
            engine = .bytePairs(try BytePairEncoder(vocabulary: vocabulary, merges: merges, byteLevel: !escapesWhitespace), preTokenizer)
            model = .bytePairEncoding(preTokenizer: preTokenizer.name)
        } else {
            engine = .sentencePiece(try SentencePieceEncoder(vocabulary: vocabulary))
            model = .sentencePiece
        }
        self.vocabulary = vocabulary
        self.addsBOS = addBOS
        self.addsEOS = addEOS
        self.addsSpacePrefix = addSpacePrefix
        self.ignoresMerges = ignoresMerges
        self.escapesWhitespace = escapesWhitespace
        specialTokens = SpecialTokenMatcher(vocabulary: vocabulary)
        cache = wordCacheCapacity > 0 && preTokenizer != nil ? WordCache(capacity: wordCacheCapacity) : nil
    }

    // MARK: Vocabulary

    /// The number of tokens; ids run from 0 to `vocabularySize - 1`.
    public var vocabularySize: Int { vocabulary.count }
    /// Beginning of sequence.
    public var bos: Int32? { vocabulary.bos }
    /// End of sequence.
    public var eos: Int32? { vocabulary.eos }
    /// End of turn (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`, ...), from the metadata or found by text.
    public var eot: Int32? { vocabulary.eot }
    /// End of message, for tool calls (`<|eom_id|>`).
    public var eom: Int32? { vocabulary.eom }
    public var unknown: Int32? { vocabulary.unknown }
    public var padding: Int32? { vocabulary.padding }
    /// Every id that ends generation: EOS, EOT, EOM and the end markers llama.cpp knows by text.
    public var endOfGeneration: [Int32] { vocabulary.endOfGeneration }

    /// Whether generating `id` should stop generation.
    public func isEndOfGeneration(_ id: Int32) -> Bool { vocabulary.endOfGeneration.contains(id) }

    /// What token `id` is; empty for an id outside the vocabulary.
    public func attributes(of id: Int32) -> TokenAttributes {
        vocabulary.contains(id) ? vocabulary.attributes[Int(id)] : []
    }

    /// The token's text as the vocabulary stores it (`Ġhello` in a byte-level vocabulary).
    public func tokenText(_ id: Int32) -> String? { vocabulary.contains(id) ? vocabulary.textString(id) : nil }

    // MARK: Encoding

    /// The token ids of `text`.
    ///
    /// - Parameters:
    ///   - addSpecial: add BOS and EOS where the model asks for them (`addsBOS`, `addsEOS`).
    ///   - parseSpecial: match control tokens written in the text (`<|im_start|>`) as those tokens;
    ///     when false they are tokenized as plain text. User-defined tokens are always matched.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(utf8: UnsafeRawBufferPointer($0), addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    /// `encode` over bytes that are valid UTF-8.
    package func encode(utf8 text: UnsafeRawBufferPointer, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.count / 3 + 2)
        if addSpecial && addsBOS, let bos = vocabulary.bos { output.append(bos) }
        let fragments = specialTokens.partition(text, parseSpecial: parseSpecial)
        switch engine {
        case .sentencePiece(let encoder):
            encodeSentencePiece(fragments, text, encoder, &output)
        case .bytePairs(let encoder, let preTokenizer):
            let additions = encodeBytePairs(fragments, text, encoder, preTokenizer, cache?.snapshot(), &output)
            if let additions { cache?.add(additions) }
        }
        if addSpecial && addsEOS, let eos = vocabulary.eos { output.append(eos) }
        return output
    }

    /// The number of words the pre-tokenizer cuts `text` into (special tokens not matched), for
    /// measuring the pre-tokenizer alone; 0 for SentencePiece, which has none.
    package func wordCount(utf8 text: UnsafeRawBufferPointer) -> Int {
        guard case .bytePairs(_, let preTokenizer) = engine else { return 0 }
        var count = 0
        PreTokenizerBuffers().split(text, with: preTokenizer) { _ in count += 1 }
        return count
    }

    private func encodeSentencePiece(_ fragments: [Fragment], _ text: UnsafeRawBufferPointer,
                                     _ encoder: SentencePieceEncoder, _ output: inout [Int32]) {
        var workspace = SentencePieceEncoder.Workspace()
        var escaped: [UInt8] = []
        var afterSpecial = true
        for fragment in fragments {
            switch fragment {
            case .token(let id):
                output.append(id)
                afterSpecial = true
            case .text(let range):
                escaped.removeAll(keepingCapacity: true)
                if addsSpacePrefix && afterSpecial { escaped.append(contentsOf: Tokenizer.spaceMark) }
                Tokenizer.escapeSpaces(UnsafeRawBufferPointer(rebasing: text[range]), into: &escaped)
                escaped.withUnsafeBytes { encoder.encode($0, into: &output, workspace: &workspace) }
                afterSpecial = false
            }
        }
    }

    /// Encodes the text fragments word by word; returns the words to add to the cache.
    private func encodeBytePairs(_ fragments: [Fragment], _ text: UnsafeRawBufferPointer, _ encoder: BytePairEncoder,
                                 _ preTokenizer: PreTokenizer, _ cached: WordCache.Table?,
                                 _ output: inout [Int32]) -> WordCache.Table? {
        let buffers = PreTokenizerBuffers()
        let workspace = BytePairEncoder.Workspace()
        var additions = cached == nil ? nil : WordCache.Table(capacity: 64)
        let limit = cache?.capacity ?? 0
        var escaped: [UInt8] = []
        for fragment in fragments {
            let range: Range<Int>
            switch fragment {
            case .token(let id):
                output.append(id)
                continue
            case .text(let r):
                range = r
            }
            if escapesWhitespace {
                escaped.removeAll(keepingCapacity: true)
                Tokenizer.escapeSpaces(UnsafeRawBufferPointer(rebasing: text[range]), into: &escaped)
            }
            escaped.withUnsafeBytes { escapedBytes in
                let fragmentText = escapesWhitespace ? escapedBytes : UnsafeRawBufferPointer(rebasing: text[range])
                var chunkStart = 0
                while chunkStart < fragmentText.count {
                    let chunkEnd = PreTokenizerBuffers.chunkEnd(fragmentText, from: chunkStart)
                    let chunk = UnsafeRawBufferPointer(rebasing: fragmentText[chunkStart..<chunkEnd])
                    let words = buffers.splitChunk(chunk, preTokenizer)
                    for i in 0..<words {
                        let word = UnsafeRawBufferPointer(rebasing: chunk[buffers.wordRange(i)])
                        if word.count == 1 && encoder.byteLevel {
                            let id = encoder.byteSymbols[Int(word[0])]
                            if id < encoder.vocabularySize {
                                output.append(id)
                                continue
                            }
                        }
                        if let cached, cached.append(word, to: &output) { continue }
                        if additions?.append(word, to: &output) == true { continue }
                        let first = output.count
                        encodeWord(word, encoder, &output, workspace)
                        if word.count <= WordCache.maximumWordLength, let count = additions?.count, count < limit {
                            additions!.insert(word, tokens: output[first...])
                        }
                    }
                    chunkStart = chunkEnd
                }
            }
        }
        return additions
    }

    @inline(__always)
    private func encodeWord(_ word: UnsafeRawBufferPointer, _ encoder: BytePairEncoder, _ output: inout [Int32],
                            _ workspace: BytePairEncoder.Workspace) {
        if ignoresMerges {
            let id = encoder.token(matching: word)
            if id >= 0 {
                output.append(id)
                return
            }
        } else if escapesWhitespace && word.allSatisfy({ $0 == 0x0A }) {
            // Gemma 4: a run of newlines that is a token stays whole (llama.cpp #21343).
            let id = encoder.token(matching: word)
            if id >= 0 {
                output.append(id)
                return
            }
        }
        encoder.encode(word, into: &output, workspace: workspace)
    }

    /// `▁` (U+2581), SentencePiece's visible space.
    static let spaceMark: [UInt8] = [0xE2, 0x96, 0x81]

    static func escapeSpaces(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        for byte in text {
            if byte == 0x20 { out.append(contentsOf: spaceMark) } else { out.append(byte) }
        }
    }
}
