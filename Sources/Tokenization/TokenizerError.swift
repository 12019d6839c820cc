/// Why a tokenizer could not be built from a model file's metadata.
public struct TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The file has no `tokenizer.ggml.model` or no `tokenizer.ggml.tokens`.
        case noVocabulary(missingKey: String)
        /// `tokenizer.ggml.model` names a tokenizer this SDK does not implement (`bert`, `t5`, ...).
        case unsupportedModel(String)
        /// `tokenizer.ggml.pre` names a pre-tokenizer this SDK does not implement.
        case unsupportedPreTokenizer(String)
        /// A tokenizer key holds a value of the wrong type or out of range.
        case invalidMetadata(key: String, reason: String)
        /// Two tokens have the same text, so text cannot map back to one id.
        case duplicateToken(text: String, firstID: Int, secondID: Int)
    }

    public var kind: Kind
    /// The model file, when known.
    public var path: String?

    public init(_ kind: Kind, path: String? = nil) {
        self.kind = kind
        self.path = path
    }

    public var description: String {
        let prefix = path.map { "\($0): " } ?? ""
        switch kind {
        case .noVocabulary(let key):
            return prefix + "no tokenizer in this file: metadata key '\(key)' is missing"
        case .unsupportedModel(let name):
            return prefix + "tokenizer.ggml.model = '\(name)' is not supported; supported: 'gpt2' (byte-level BPE), "
                + "'llama' (SentencePiece BPE with byte fallback), 'gemma4'"
        case .unsupportedPreTokenizer(let name):
            return prefix + "tokenizer.ggml.pre = '\(name)' is not supported; supported: "
                + PreTokenizer.supportedNames.joined(separator: ", ")
        case .invalidMetadata(let key, let reason):
            return prefix + "metadata key '\(key)': \(reason)"
        case .duplicateToken(let text, let first, let second):
            return prefix + "tokens \(first) and \(second) have the same text \(text.debugDescription)"
        }
    }
}
