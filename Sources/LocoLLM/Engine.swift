import Foundation
import Synchronization

/// A base model loaded once, with everything a front end needs around it: the tokenizer, the chat
/// template and its BOS rule, the adapter registry, and sessions and generators on the shared
/// weights. `loco run`, `loco chat`, the examples and ``ChatSession`` all go through it.
///
/// An engine is immutable and `Sendable`: any number of tasks can make sessions from one engine at
/// the same time, each with its own KV cache and adapters, while the weights stay mapped once.
/// Adapter files are read once per engine and kept (by resolved path); the adapter sets made from
/// them are pointer swaps on a session, never copies of the base.
///
/// ```swift
/// let engine = try Engine()                                   // the default model
/// let prompt = try engine.prompt(messages: [.user("What is the capital of France?")])
/// let options = GenerationOptions(maxTokens: 64, sampler: .greedy)
/// try engine.generate(prompt: prompt, adapters: engine.adapters([("math", 1)]), options: options) {
///     print($0, terminator: "")
/// }
/// ```
public final class Engine: Sendable {
    /// The model file, as ``ModelStore/resolve(_:)`` found it.
    public let modelPath: String
    public let model: Model
    public let tokenizer: Tokenizer
    /// The model's chat template, or nil when its file has none LocoLLM recognizes (then only
    /// ``prompt(raw:)`` works).
    public let template: ChatTemplate?
    /// Where adapter names are looked up.
    public let registry: AdapterRegistry
    /// Positions a session holds unless asked for another length.
    public let contextLength: Int
    /// How sessions order their float work.
    public let numerics: Numerics
    let pool: ComputePool
    /// Why `template` is nil, for the error that says so.
    private let templateProblem: String?
    /// Adapter files read so far, by resolved path.
    private let adapterFiles = Mutex<[String: LoRAAdapter]>([:])

    /// Loads `model` (a path, or a name in the model store; nil: the default model).
    ///
    /// - Parameters:
    ///   - threads: compute threads (nil: the process's shared pool, one thread per core).
    ///   - contextLength: the sessions' context (nil: the model's, at most 4096).
    ///   - numerics: `.llamaCpp` orders the float work as llama.cpp does (slower; for comparing).
    ///   - chatTemplate: a template family by name (`ChatTemplate.familyNames`) instead of the
    ///     file's own: for a base model whose file has none, or to override it.
    /// - Throws: `ModelStoreError` when the model is not found, a GGUF, model or tokenizer error
    ///   when its file cannot be used. A missing or unrecognized chat template is not an error
    ///   here; ``prompt(messages:)`` reports it.
    public init(model: String? = nil, registry: AdapterRegistry = AdapterRegistry(), threads: Int? = nil,
                contextLength: Int? = nil, numerics: Numerics = .fast, chatTemplate: String? = nil) throws {
        let path = try ModelStore().resolve(model)
        let file = try GGUFFile(contentsOf: path)
        let loaded = try Model(file: file)
        modelPath = path
        self.model = loaded
        tokenizer = try Tokenizer(gguf: file)
        do {
            template = try chatTemplate.map { try ChatTemplate(named: $0, gguf: file) } ?? ChatTemplate(gguf: file)
            templateProblem = nil
        } catch {
            template = nil
            templateProblem = "\(error)"
        }
        self.registry = registry
        self.contextLength = min(contextLength ?? 4096, loaded.configuration.contextLength)
        self.numerics = numerics
        pool = threads.map { ComputePool(threads: $0) } ?? .shared
    }

    // MARK: Adapters

    /// The adapter `nameOrPath` names: a GGUF LoRA file or PEFT folder when that path exists,
    /// else the registry entry of that name. Read once; later calls return the kept copy.
    ///
    /// - Throws: `RegistryError` when neither exists, the loader's error when the file is malformed.
    public func adapter(_ nameOrPath: String) throws -> LoRAAdapter {
        let path = try registry.resolve(nameOrPath)
        if let kept = adapterFiles.withLock({ $0[path] }) { return kept }
        // Read outside the lock: two tasks asking for one new adapter at once both read it, and
        // neither waits behind the other's file.
        let adapter = try LoRAAdapter(contentsOf: path)
        adapterFiles.withLock { $0[path] = adapter }
        return adapter
    }

    /// The deltas of the adapters `specs` names (each a registry name or a path, with its user
    /// scale), checked against this engine's model; nil when `specs` is empty (the bare base).
    public func adapters(_ specs: [(String, Float)]) throws -> AdapterSet? {
        guard !specs.isEmpty else { return nil }
        return try AdapterSet(model: model, adapters: specs.map { (try adapter($0.0), $0.1) })
    }

    // MARK: Sessions

    /// A session with an empty KV cache of `contextLength` positions (nil: the engine's) and
    /// `adapters`, which must be made for this engine's model (``adapters(_:)`` makes them).
    public func makeSession(adapters: AdapterSet? = nil, contextLength: Int? = nil,
                            cachePrecision: KVCache.Precision? = nil) -> Session {
        let session = model.makeSession(contextLength: contextLength ?? self.contextLength, cachePrecision: cachePrecision,
                                        numerics: numerics, pool: pool)
        session.adapters = adapters
        return session
    }

    /// A generator on a new session (see ``makeSession(adapters:contextLength:cachePrecision:)``):
    /// one conversation's cache, reused between its turns.
    public func makeGenerator(adapters: AdapterSet? = nil, contextLength: Int? = nil) -> Generator {
        Generator(session: makeSession(adapters: adapters, contextLength: contextLength), tokenizer: tokenizer)
    }

    // MARK: Prompts

    /// The prompt ids of a conversation in the model's chat template, ending with the start of the
    /// assistant's turn; BOS is added only when the template does not write it
    /// (`Tokenizer.encode(messages:template:)`).
    ///
    /// - Throws: ``EngineError`` when the model has no chat template LocoLLM recognizes,
    ///   `ChatTemplateError` when the template cannot render `messages`.
    public func prompt(messages: [ChatMessage]) throws -> [Int32] {
        try tokenizer.encode(messages: messages, template: chatTemplate())
    }

    /// The ids of `text` as it is, without a chat template: BOS when the model asks for it, text
    /// that looks like a control token left as text.
    public func prompt(raw text: String) -> [Int32] {
        tokenizer.encode(text, addSpecial: true, parseSpecial: false)
    }

    /// The chat template, or the error saying why there is none.
    public func chatTemplate() throws -> ChatTemplate {
        guard let template else { throw EngineError(.noChatTemplate(reason: templateProblem ?? ""), path: modelPath) }
        return template
    }

    // MARK: Generation

    /// Generates one reply to `prompt` on a new session, calling `onText` with each piece of text
    /// as it comes; returns the timings when generation stops.
    @discardableResult
    public func generate(prompt: [Int32], adapters: AdapterSet? = nil, options: GenerationOptions = GenerationOptions(),
                         onText: (String) -> Void) throws -> GenerationStatistics {
        try makeGenerator(adapters: adapters).generate(prompt: prompt, options: options, onText: onText)
    }

    /// The same as a stream: text pieces, then `.finished` with the timings. Cancelling the
    /// consuming task stops the generation after the current token.
    public func stream(prompt: [Int32], adapters: AdapterSet? = nil,
                       options: GenerationOptions = GenerationOptions()) -> AsyncThrowingStream<GenerationEvent, any Error> {
        makeGenerator(adapters: adapters).stream(prompt: prompt, options: options)
    }

    // MARK: Embeddings

    /// The embedding of `text` (tokenized as ``prompt(raw:)``): the mean of the final hidden states
    /// over its tokens, `model.configuration.embeddingLength` values, scaled to unit length when
    /// `normalized` (see `Session.embedding(tokens:normalized:)`). What a router compares.
    public func embedding(of text: String, normalized: Bool = false, layers: Int? = nil) throws -> [Float] {
        let ids = prompt(raw: text)
        // One pass and no decoding: an F32 cache costs nothing here and keeps keys and values exact.
        return try makeSession(contextLength: max(ids.count, 1), cachePrecision: .f32)
            .embedding(tokens: ids, normalized: normalized, layers: layers)
    }
}

/// Why an ``Engine`` or a ``ChatSession`` could not do what was asked.
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The model file has no chat template, or one LocoLLM does not recognize; `reason` says
        /// which (the template error's text).
        case noChatTemplate(reason: String)
        /// A chat session was asked for a second turn while one was running.
        case sessionBusy
    }

    public var kind: Kind
    /// The model file concerned.
    public var path: String?

    public init(_ kind: Kind, path: String? = nil) {
        self.kind = kind
        self.path = path
    }

    public var description: String {
        switch kind {
        case .noChatTemplate(let reason):
            let detail = reason.isEmpty ? "" : " (\(reason))"
            return "the model has no chat template LocoLLM recognizes" + detail
        case .sessionBusy:
            return "the chat session is already answering; one turn at a time"
        }
    }
}

extension AdapterRegistry {
    /// The deltas of the adapters `specs` names (registry names or paths, each with its user
    /// scale) for `model`, read from disk each time; nil when `specs` is empty. For tools that
    /// run a model without an ``Engine`` (one without a vocabulary, say); an engine keeps the
    /// files it has read (``Engine/adapters(_:)``).
    public func adapterSet(_ specs: [(String, Float)], for model: Model) throws -> AdapterSet? {
        guard !specs.isEmpty else { return nil }
        return try AdapterSet(model: model, adapters: specs.map { (try LoRAAdapter(contentsOf: resolve($0.0)), $0.1) })
    }
}
