import Foundation
import Synchronization

/// One conversation with an ``Engine``'s model: the messages so far, rendered with the model's
/// chat template at every turn, and a session whose KV cache keeps the earlier turns, so a reply
/// only runs the tokens that are new since the last one (``GenerationStatistics/reusedPromptTokens``).
///
/// Each turn appends the user's message and, when it ends, the assistant's reply (what was
/// generated, also when the turn was cancelled part-way). A turn that fails leaves the history as
/// it was. One turn at a time: a second while one runs throws ``EngineError`` (`sessionBusy`);
/// ``clear()``, ``setAdapter(_:scale:)`` and ``options`` may be called at any time and apply from
/// the next turn. Many chat sessions can share one engine, from as many tasks.
///
/// ```swift
/// let chat = try ChatSession(engine: Engine(), systemMessage: "Be brief.")
/// print(try await chat.respond(to: "What is 2+2?"))
/// for try await event in chat.streamResponse(to: "And times 3?") {
///     if case .text(let piece) = event { print(piece, terminator: "") }
/// }
/// ```
public final class ChatSession: Sendable {
    public let engine: Engine
    /// The system message every rendering starts with (kept by ``clear()``).
    public let systemMessage: String?
    private let generator: Generator
    private let state: Mutex<State>

    private struct State {
        var messages: [ChatMessage]
        var options: GenerationOptions
        var adapters: AdapterSet?
        var adapterName: String?
        var lastStatistics: GenerationStatistics?
        var turnRunning = false
        /// The cache must be emptied (and the adapters set) before the next turn.
        var resetPending = false
        /// Counts ``clear()``s, so that a turn running across one does not write into the new history.
        var conversation = 0
    }

    /// A conversation with `adapters` (made by `engine.adapters(_:)`; nil: the bare base).
    ///
    /// - Parameter contextLength: the conversation's positions (nil: the engine's).
    /// - Throws: ``EngineError`` when the model has no chat template LocoLLM recognizes.
    public init(engine: Engine, systemMessage: String? = nil, adapters: AdapterSet? = nil,
                options: GenerationOptions = GenerationOptions(), contextLength: Int? = nil) throws {
        _ = try engine.chatTemplate()
        self.engine = engine
        self.systemMessage = systemMessage
        generator = engine.makeGenerator(adapters: adapters, contextLength: contextLength)
        state = Mutex(State(messages: systemMessage.map { [.system($0)] } ?? [], options: options, adapters: adapters))
    }

    /// A conversation with the adapter `adapter` names (a registry name or a path) at `scale`.
    public convenience init(engine: Engine, systemMessage: String? = nil, adapter: String, scale: Float = 1,
                            options: GenerationOptions = GenerationOptions(), contextLength: Int? = nil) throws {
        try self.init(engine: engine, systemMessage: systemMessage, adapters: engine.adapters([(adapter, scale)]),
                      options: options, contextLength: contextLength)
        state.withLock { $0.adapterName = adapter }
    }

    /// The conversation so far: the system message, then user and assistant turns.
    public var messages: [ChatMessage] { state.withLock { $0.messages } }

    /// How replies are generated (token limit, sampler, stop strings).
    public var options: GenerationOptions {
        get { state.withLock { $0.options } }
        set { state.withLock { $0.options = newValue } }
    }

    /// The timings of the last finished turn.
    public var lastStatistics: GenerationStatistics? { state.withLock { $0.lastStatistics } }

    /// The adapter name or path last given to ``setAdapter(_:scale:)`` or the initializer (nil:
    /// the bare base, or adapters given as a set).
    public var adapterName: String? { state.withLock { $0.adapterName } }

    /// Forgets the conversation except the system message; the next turn starts from an empty cache.
    public func clear() {
        state.withLock { state in
            state.messages = systemMessage.map { [.system($0)] } ?? []
            state.resetPending = true
            state.conversation += 1
        }
    }

    /// Answers with the adapter `nameOrPath` names at `scale` from the next turn on (nil: the bare
    /// base). A pointer swap on the session; the cached positions were computed with the previous
    /// adapters, so the next turn runs the whole conversation again.
    ///
    /// - Throws: `RegistryError` when no adapter has that name or path, the loader's or
    ///   `LoRAError` when it is malformed or does not fit the model; the adapters stay as they were.
    public func setAdapter(_ nameOrPath: String?, scale: Float = 1) throws {
        let adapters = try nameOrPath.flatMap { try engine.adapters([($0, scale)]) }
        state.withLock { state in
            state.adapters = adapters
            state.adapterName = nameOrPath
            state.resetPending = true
        }
    }

    /// Answers `text`, calling `onText` with each piece of the reply as it is generated; returns
    /// the turn's timings (also kept as ``lastStatistics``).
    @discardableResult
    public func respond(to text: String, onText: (String) -> Void) throws -> GenerationStatistics {
        let turn = try beginTurn(text)
        var reply = ""
        do {
            let statistics = try generator.generate(prompt: turn.prompt, options: turn.options) { piece in
                reply += piece
                onText(piece)
            }
            state.withLock { state in
                if state.conversation == turn.conversation { state.messages.append(.assistant(reply)) }
                state.lastStatistics = statistics
                state.turnRunning = false
            }
            return statistics
        } catch {
            state.withLock { state in
                if state.conversation == turn.conversation { state.messages.removeLast() }
                state.resetPending = true
                state.turnRunning = false
            }
            throw error
        }
    }

    /// Answers `text` and returns the whole reply. Cancelling the task stops the generation after
    /// the current token and throws `CancellationError` (the part generated stays in the history;
    /// a turn asked for before that token is done throws `sessionBusy`).
    public func respond(to text: String) async throws -> String {
        var reply = ""
        for try await event in streamResponse(to: text) {
            if case .text(let piece) = event { reply += piece }
        }
        try Task.checkCancellation()
        return reply
    }

    /// Answers `text` as a stream: pieces of the reply, then `.finished` with the timings.
    /// Generation runs on its own thread; ending the stream early (or cancelling the consuming
    /// task) stops it after the current token.
    public func streamResponse(to text: String) -> AsyncThrowingStream<GenerationEvent, any Error> {
        // Not `Generator.stream`: the turn must end (reply in the history, session free) when the
        // generation really returns, which a consumer that stopped early never sees.
        AsyncThrowingStream { continuation in
            let thread = Thread { [self] in
                do {
                    let statistics = try respond(to: text) { continuation.yield(.text($0)) }
                    continuation.yield(.finished(statistics))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { [generator] termination in
                if case .cancelled = termination { generator.cancel() }
            }
            thread.start()
        }
    }

    private struct Turn {
        var prompt: [Int32]
        var options: GenerationOptions
        var conversation: Int
    }

    /// Claims the session for a turn, adds the user's message and returns the prompt; applies a
    /// pending clear or adapter change to the generator, which no other turn is using now.
    private func beginTurn(_ text: String) throws -> Turn {
        let (turn, reset, adapters) = try state.withLock { state throws -> (Turn, Bool, AdapterSet?) in
            guard !state.turnRunning else { throw EngineError(.sessionBusy) }
            let messages = state.messages + [.user(text)]
            let prompt = try engine.prompt(messages: messages)
            state.messages = messages
            state.turnRunning = true
            defer { state.resetPending = false }
            return (Turn(prompt: prompt, options: state.options, conversation: state.conversation), state.resetPending, state.adapters)
        }
        if reset {
            generator.session.adapters = adapters
            generator.reset()
        }
        return turn
    }
}
