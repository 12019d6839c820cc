/// How text is cut into words before byte-pair merges, by the name in `tokenizer.ggml.pre`.
///
/// Each pre-tokenizer is a list of passes, as in llama.cpp: every pass cuts each piece the previous
/// one left, so `smollm` first isolates every digit and then applies GPT-2's pattern to what is
/// between. The patterns are hand-written matchers over code points and their Unicode classes (no
/// regular-expression engine), each reproducing llama.cpp's own matcher for that pattern, quirks
/// included, because matching llama.cpp token for token is the point.
struct PreTokenizer: Sendable {
    let name: String
    let passes: [Pass]

    enum Pass: Sendable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        case gpt2
        /// Llama 3's pattern: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
        /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`; Qwen2's is the same with digits
        /// one by one. `contractions: false` drops the first alternative.
        case llama3(digitsPerWord: Int, contractions: Bool)
        /// Qwen 3.5's: Qwen2's with combining marks (`\p{M}`) counted as letters.
        case qwen35
        /// Every code point of the class on its own (`\p{N}`, `[\r\n]`).
        case isolate(CharacterClass)
        /// Runs of the class, optionally with one whitespace code point before (`\s?\p{L}+`).
        case runs(CharacterClass, leadingWhitespace: Bool)
        /// `[0-9][0-9][0-9]`.
        case asciiDigitTriples
        /// `\s+$`.
        case trailingWhitespace
        /// `[^\n]+|[\n]+`.
        case newlines
    }

    /// The pre-tokenizer named `name`, or nil when it is not implemented.
    init?(named name: String) {
        guard let passes = PreTokenizer.passes(for: name) else { return nil }
        self.name = name
        self.passes = passes
    }

    /// Every name `init(named:)` accepts.
    static var supportedNames: [String] { catalog.flatMap(\.names) }

    private static func passes(for name: String) -> [Pass]? {
        catalog.first { $0.names.contains(name) }?.passes
    }

    /// The names llama.cpp gives each pattern list (llama-vocab.cpp), for the lists implemented here.
    private static let catalog: [(names: [String], passes: [Pass])] = {
        let letters = CharacterClass(classes: UnicodeClasses.letter)
        let numbers = CharacterClass(classes: UnicodeClasses.number)
        let punctuation = CharacterClass(classes: UnicodeClasses.punctuation)
        let punctuationAndOperators = CharacterClass(classes: UnicodeClasses.punctuation, pattern: "$+<=>^~|")
        let cjk = CharacterClass(pattern: CJK)
        let newline = CharacterClass(pattern: "\r\n")
        return [
            (["default", ""], [.runs(punctuationAndOperators, leadingWhitespace: false), .gpt2,
                               .runs(numbers, leadingWhitespace: false), .asciiDigitTriples]),
            (["llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
              "dbrx", "smaug-bpe", "chatglm-bpe", "glm4", "glm5"],
             [.llama3(digitsPerWord: 3, contractions: true)]),
            (["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2"],
             [.llama3(digitsPerWord: 1, contractions: true)]),
            (["ufakzeka"], [.llama3(digitsPerWord: 1, contractions: false)]),
            (["laguna"], [.newlines, .llama3(digitsPerWord: 1, contractions: true)]),
            (["qwen35"], [.qwen35]),
            (["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"],
             [.isolate(numbers), .gpt2]),
            (["gpt-2", "mpt", "olmo", "phi-2", "jais", "trillion", "granite-docling", "jina-es", "jina-de", "gigachat",
              "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "exaone4", "jina-v1-en", "jina-v2-code",
              "roberta-bpe"],
             [.gpt2]),
            (["falcon"], [.runs(punctuationAndOperators, leadingWhitespace: false), .gpt2, .asciiDigitTriples]),
            (["deepseek-llm"], [.isolate(newline), .runs(CharacterClass(pattern: deepseekLetters), leadingWhitespace: true),
                                .runs(CharacterClass(pattern: deepseekPunctuation), leadingWhitespace: true),
                                .trailingWhitespace, .runs(cjk, leadingWhitespace: false),
                                .runs(numbers, leadingWhitespace: false)]),
            (["deepseek-coder"], [.isolate(newline), .runs(letters, leadingWhitespace: true),
                                  .runs(punctuation, leadingWhitespace: true), .runs(cjk, leadingWhitespace: false),
                                  .isolate(numbers)]),
            (["gemma4", "granite-embed-multi-311m", "sarvam-moe"], [.newlines]),
        ]
    }()

    /// CJK ideographs and Hangul, as DeepSeek's tokenizer.json spells them.
    private static let CJK = "一-龥ࠀ-一가-퟿"
    /// DeepSeek LLM's letter class, as its tokenizer.json spells it.
    private static let deepseekLetters = "A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃"
    private static let deepseekPunctuation = "!-/:-~！-／：-～‘-‟\u{3000}-。"
}

/// A set of code points: any of some Unicode classes, plus explicit ranges.
///
/// Explicit ranges test the code point after llama.cpp's substitution of non-ASCII whitespace by
/// U+000B (its regular expressions cannot see non-ASCII whitespace otherwise), so a range holding
/// U+3000 does not match it, as in llama.cpp.
struct CharacterClass: Sendable {
    var classes: UInt8 = 0
    var ranges: [ClosedRange<UInt32>] = []

    init(classes: UInt8) { self.classes = classes }

    /// Ranges from a bracket-expression body such as `A-Za-z` (no escapes).
    init(classes: UInt8 = 0, pattern: String) {
        self.classes = classes
        let scalars = Array(pattern.unicodeScalars).map(\.value)
        var i = 0
        while i < scalars.count {
            if i + 2 < scalars.count && scalars[i + 1] == 0x2D {
                ranges.append(scalars[i]...scalars[i + 2])
                i += 3
            } else {
                ranges.append(scalars[i]...scalars[i])
                i += 1
            }
        }
    }

    @inline(__always)
    func contains(_ codePoint: UInt32, classes bits: UInt8) -> Bool {
        if bits & classes != 0 { return true }
        if ranges.isEmpty { return false }
        let value = codePoint > 0x7F && bits & UnicodeClasses.whitespace != 0 ? 0x0B : codePoint
        for range in ranges where range.contains(value) { return true }
        return false
    }
}
