import Foundation
import LocoSupport
import Synchronization
import Tokenization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a generation may do.
public struct GenerationOptions: Sendable {
    /// Tokens to generate at most.
    public var maxTokens: Int
    public var sampler: SamplerSettings
    /// Generation stops before any of these strings; the string itself is not returned.
    public var stopStrings: [String]
    /// Stop at the model's end-of-generation tokens (EOS, EOT, `<|im_end|>`, ...).
    public var stopAtEndOfGeneration: Bool

    public init(maxTokens: Int = 256, sampler: SamplerSettings = SamplerSettings(), stopStrings: [String] = [],
                stopAtEndOfGeneration: Bool = true) {
        self.maxTokens = maxTokens
        self.sampler = sampler
        self.stopStrings = stopStrings
        self.stopAtEndOfGeneration = stopAtEndOfGeneration
    }
}

/// Why a generation ended.
public enum StopReason: String, Sendable, Codable {
    case endOfGeneration, stopString, maxTokens
    /// The session's context is full: generation stops there (the policy: never silently drop
    /// earlier context; start a new session or a shorter conversation).
    case contextFull
    case cancelled
}

/// Timings of one generation.
public struct GenerationStatistics: Sendable, Codable {
    public var promptTokens: Int
    /// Prompt tokens that were already in the session's cache and not run again.
    public var reusedPromptTokens: Int
    public var generatedTokens: Int
    public var timeToFirstToken: Double
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    public var stopReason: StopReason

    public var prefillTokensPerSecond: Double {
        prefillSeconds > 0 ? Double(promptTokens - reusedPromptTokens) / prefillSeconds : 0
    }
    /// Tokens after the first, over the time they took.
    public var decodeTokensPerSecond: Double {
        decodeSeconds > 0 && generatedTokens > 1 ? Double(generatedTokens - 1) / decodeSeconds : 0
    }
}

/// One event of a generation stream: a piece of text, then the statistics at the end.
public enum GenerationEvent: Sendable {
    case text(String)
    case finished(GenerationStatistics)
}

/// Generates text in a ``Session``: prefill, sample, decode, turn tokens into text as they come
/// (never splitting a character), stop at end-of-generation tokens, stop strings, the token
/// limit or a full context. Reuses the session's cache: when a new prompt starts with tokens the
/// session already holds (the earlier turns of a chat), only the rest is run.
///
/// One generation at a time per generator; use one generator (and session) per conversation.
///
/// ```swift
/// let generator = Generator(session: model.makeSession(), tokenizer: tokenizer)
/// for try await event in generator.stream(prompt: tokenizer.encode(text), options: GenerationOptions()) {
///     if case .text(let piece) = event { print(piece, terminator: "") }
/// }
/// ```
public final class Generator: @unchecked Sendable {
    public let session: Session
    public let tokenizer: Tokenizer
    /// Tokens in the session's cache, in order.
    public private(set) var history: [Int32] = []
    /// The tokens the last generation sampled, in order: the end-of-generation token or the token
    /// completing a stop string that ended it included (neither is in `history` or the text).
    public private(set) var lastGeneration: [Int32] = []
    private let cancelled = Atomic<Bool>(false)

    public init(session: Session, tokenizer: Tokenizer) {
        self.session = session
        self.tokenizer = tokenizer
    }

    /// Forgets the conversation: the next prompt is run from the start.
    public func reset() {
        session.reset()
        history.removeAll()
    }

    /// Asks a running generation to stop after the current token.
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Generates after `prompt` (the whole conversation's tokens), calling `onText` with each
    /// complete piece of text. Returns when generation stops.
    @discardableResult
    public func generate(prompt: [Int32], options: GenerationOptions, onText: (String) -> Void) throws -> GenerationStatistics {
        cancelled.store(false, ordering: .relaxed)
        guard !prompt.isEmpty else { throw ModelError(.inconsistent("the prompt has no tokens")) }
        guard prompt.count < session.contextLength else {
            throw ModelError(.contextFull(position: 0, adding: prompt.count, contextLength: session.contextLength))
        }
        // Keep the cached prefix the prompt shares; at least the last prompt token is run again
        // so its logits exist.
        var reused = zip(history, prompt).prefix { $0 == $1 }.count
        reused = min(reused, prompt.count - 1)
        session.rewind(to: reused)
        history = Array(prompt[..<reused])

        let start = ContinuousClock.now
        var logits = try session.forward(tokens: Array(prompt[reused...]), logits: .last).values
        history = prompt
        let prefillEnd = ContinuousClock.now

        var cursor = ReplyCursor(prompt: prompt, tokenizer: tokenizer, options: options)
        var firstTokenTime: ContinuousClock.Instant?
        lastGeneration = []

        while cursor.stopReason == nil {
            if cancelled.load(ordering: .relaxed) || Generator.taskCancelled {
                let rest = cursor.cancel()
                if !rest.isEmpty { onText(rest) }
                break
            }
            let step = cursor.next(logits: logits, room: session.position < session.contextLength)
            lastGeneration.append(step.token)
            if firstTokenTime == nil { firstTokenTime = ContinuousClock.now }
            if !step.text.isEmpty { onText(step.text) }
            if step.finished { break }
            logits = try session.decode(step.token)
            history.append(step.token)
        }
        let reason = cursor.stopReason ?? .maxTokens
        let generated = cursor.tokens.count
        let end = ContinuousClock.now
        let first = firstTokenTime ?? end
        return GenerationStatistics(
            promptTokens: prompt.count, reusedPromptTokens: reused, generatedTokens: generated,
            timeToFirstToken: (first - start).seconds, prefillSeconds: (prefillEnd - start).seconds,
            decodeSeconds: (end - first).seconds, stopReason: reason)
    }

    /// The same as a stream of events; cancelling the consuming task stops the generation.
    public func stream(prompt: [Int32], options: GenerationOptions) -> AsyncThrowingStream<GenerationEvent, any Error> {
        AsyncThrowingStream { continuation in
            let thread = Thread { [self] in
                do {
                    let statistics = try generate(prompt: prompt, options: options) { continuation.yield(.text($0)) }
                    continuation.yield(.finished(statistics))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { [weak self] _ in self?.cancel() }
            thread.start()
        }
    }

    static var taskCancelled: Bool { withUnsafeCurrentTask { $0?.isCancelled ?? false } }
}

/// Holds back text that may be the start of a stop string, and cuts at the first stop string.
struct StopStringFilter {
    let stops: [String]
    private var held = ""

    init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Adds `text`; returns what can be shown now, and whether a stop string was reached.
    mutating func feed(_ text: String) -> (String, Bool) {
        guard !stops.isEmpty else { return (text, false) }
        held += text
        if let cut = stops.compactMap({ held.range(of: $0)?.lowerBound }).min() {
            let shown = String(held[..<cut])
            held = ""
            return (shown, true)
        }
        // Keep the longest tail that is a prefix of some stop string.
        var keep = 0
        for stop in stops {
            for length in stride(from: min(stop.count, held.count), to: 0, by: -1) where length > keep {
                if held.hasSuffix(String(stop.prefix(length))) {
                    keep = length
                    break
                }
            }
        }
        let shown = String(held.dropLast(keep))
        held = String(held.suffix(keep))
        return (shown, false)
    }

    /// What is still held back, at the end of generation.
    mutating func flush() -> String {
        defer { held = "" }
        return held
    }
}

/// One reply being generated, token by token, apart from how its logits are computed: the
/// sampler with the reply's history, the streaming detokenizer, the stop strings and the stop
/// rules. ``BatchGenerator`` keeps one per sequence; a server keeps one per request.
public struct ReplyCursor: Sendable {
    public let options: GenerationOptions
    /// The tokens sampled so far (an end-of-generation token included, as ``Generator`` counts it).
    public private(set) var tokens: [Int32] = []
    /// The text shown so far.
    public private(set) var text = ""
    /// Why the reply ended; nil while it goes on.
    public private(set) var stopReason: StopReason?
    private var sampler: Sampler
    private var history: [Int32]
    private var detokenizer: StreamingDetokenizer
    private var stopper: StopStringFilter
    private let tokenizer: Tokenizer

    /// A reply after `prompt` (its tokens feed the sampler's penalties).
    public init(prompt: [Int32], tokenizer: Tokenizer, options: GenerationOptions) {
        self.options = options
        self.tokenizer = tokenizer
        sampler = Sampler(options.sampler)
        history = prompt
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        stopper = StopStringFilter(stops: options.stopStrings)
        if options.maxTokens <= 0 { stopReason = .maxTokens }
    }

    /// What one token did to the reply.
    public struct Step: Sendable, Equatable {
        public var token: Int32
        /// Text this token completed (often empty or a piece of a word); at the end, with what
        /// was held back.
        public var text: String
        /// True when the reply ended with this token; else the token must be run through the
        /// model, whose logits come to the next ``ReplyCursor/next(logits:room:)``.
        public var finished: Bool
    }

    /// Samples the next token from `logits` (the model's after the last token); `room` is false
    /// when the session has no position left for it.
    public mutating func next(logits: [Float], room: Bool) -> Step {
        precondition(stopReason == nil, "the reply has ended")
        let token = sampler.sample(logits: logits, history: history)
        tokens.append(token)
        var shown = ""
        if options.stopAtEndOfGeneration && tokenizer.isEndOfGeneration(token) {
            stopReason = .endOfGeneration
        } else {
            let (piece, hitStop) = stopper.feed(detokenizer.append(token))
            shown = piece
            if hitStop {
                stopReason = .stopString
            } else if tokens.count >= options.maxTokens {
                stopReason = .maxTokens
            } else if !room {
                stopReason = .contextFull
            } else {
                history.append(token)
            }
        }
        if stopReason != nil && stopReason != .stopString { shown += finish() }
        text += shown
        return Step(token: token, text: shown, finished: stopReason != nil)
    }

    /// Ends the reply from outside (a cancelled request); returns the text still held back.
    public mutating func cancel() -> String {
        guard stopReason == nil else { return "" }
        stopReason = .cancelled
        let rest = finish()
        text += rest
        return rest
    }

    private mutating func finish() -> String {
        let (tail, _) = stopper.feed(detokenizer.finish())
        return tail + stopper.flush()
    }
}
