/// What a token is, from `tokenizer.ggml.token_type` plus the adjustments llama.cpp makes by
/// token text (end-of-turn markers become control tokens, for example).
public struct TokenAttributes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Ordinary text.
    public static let normal = TokenAttributes(rawValue: 1 << 0)
    /// The unknown token (`<unk>`).
    public static let unknown = TokenAttributes(rawValue: 1 << 1)
    /// A control token (BOS, EOS, turn markers): matched in text only when special tokens are
    /// parsed, and left out of decoded text unless asked for.
    public static let control = TokenAttributes(rawValue: 1 << 2)
    /// A token added to the vocabulary by hand: always matched whole in text, always decoded.
    public static let userDefined = TokenAttributes(rawValue: 1 << 3)
    /// A placeholder the model never saw in training.
    public static let unused = TokenAttributes(rawValue: 1 << 4)
    /// A byte-fallback token `<0xNN>` standing for one raw byte.
    public static let byte = TokenAttributes(rawValue: 1 << 5)
    /// When matched in text, whitespace before it is dropped.
    public static let stripsLeft = TokenAttributes(rawValue: 1 << 6)
    /// When matched in text, whitespace after it is dropped.
    public static let stripsRight = TokenAttributes(rawValue: 1 << 7)

    /// Tokens matched whole in text before the tokenizer runs (when special tokens are parsed).
    static let special: TokenAttributes = [.control, .userDefined, .unknown]

    /// The attributes of a `tokenizer.ggml.token_type` value (1 normal, 2 unknown, 3 control,
    /// 4 user-defined, 5 unused, 6 byte; anything else has none).
    init(ggmlTokenType type: Int64) {
        switch type {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = []
        }
    }
}
