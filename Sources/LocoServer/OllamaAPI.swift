import Foundation
import HTTPTypes
import Hummingbird
import LocoLLM

/// Ollama's API (`/api/...`): generate and chat (NDJSON streams or one object), embeddings, the
/// model list, show, ps and version. Errors are `{"error": "..."}` with the status.
struct OllamaAPI: Sendable {
    let core: ServerCore

    /// The Ollama options honoured; any other option is refused, never silently ignored.
    static let honouredOptions: Set<String> = [
        "temperature", "top_k", "top_p", "min_p", "seed", "num_predict", "stop", "num_ctx", "repeat_penalty", "repeat_last_n",
        "presence_penalty", "frequency_penalty",
    ]

    /// Generation options and the request's context from `options`.
    func options(_ body: JSONRequest) throws(ServerError) -> (GenerationOptions, Int?) {
        var sampler = SamplerSettings()
        var maxTokens: Int?
        var stops: [String] = []
        var context: Int?
        if let options = try body.object("options") {
            for key in options.keys where !Self.honouredOptions.contains(key) {
                throw ServerError(.badRequest, "option `\(key)` is not supported by loco serve (supported: \(Self.honouredOptions.sorted().joined(separator: ", ")))",
                                  parameter: "options." + key)
            }
            let vocabulary = core.engine.model.vocabularySize
            if let t = try options.number("temperature", in: 0...100) { sampler.temperature = Float(t) }
            if let k = try options.integer("top_k", in: 0...vocabulary) { sampler.topK = k }
            if let p = try options.number("top_p", in: 0...1) { sampler.topP = Float(p) }
            if let p = try options.number("min_p", in: 0...1) { sampler.minP = Float(p) }
            if let seed = try options.integer("seed", in: Int.min...Int.max) { sampler.seed = UInt64(bitPattern: Int64(seed)) }
            if let r = try options.number("repeat_penalty", in: 0.0001...100) { sampler.repetitionPenalty = Float(r) }
            if let n = try options.integer("repeat_last_n", in: -1...Int(Int32.max)) { sampler.penaltyWindow = n }
            if let p = try options.number("presence_penalty", in: -100...100) { sampler.presencePenalty = Float(p) }
            if let p = try options.number("frequency_penalty", in: -100...100) { sampler.frequencyPenalty = Float(p) }
            // -1: until the context or the server's bound; -2: fill the context.
            if let n = try options.integer("num_predict", in: -2...Int(Int32.max)) { maxTokens = n < 0 ? nil : n }
            stops = try options.strings("stop") ?? []
            if let n = try options.integer("num_ctx", in: 1...Int(Int32.max)) {
                guard n <= core.configuration.contextLength else {
                    throw ServerError(.badRequest, "`options.num_ctx` is \(n); this server's sessions hold \(core.configuration.contextLength) positions (--ctx)",
                                      parameter: "options.num_ctx")
                }
                context = n
            }
        }
        let limit = try core.checkedMaxTokens(maxTokens, parameter: "options.num_predict")
        return (GenerationOptions(maxTokens: limit, sampler: sampler, stopStrings: stops), context)
    }

    private func common(_ body: JSONRequest) throws(ServerError) {
        try body.refuse("format", "structured output (JSON mode) is not supported")
        try body.refuse("images", "the models served here read text only")
        try body.refuse("tools", "tool calls are not supported")
        try body.refuse("think", "thinking mode is not supported")
    }

    // MARK: /api/generate

    func generate(_ request: Request) async throws(ServerError) -> Response {
        let begin = ContinuousClock.now
        let body = try await core.body(of: request)
        let model = try body.string("model")
        let choice = try core.catalog.resolve(model)
        try common(body)
        try body.refuse("template", "the model's own chat template is used")
        try body.refuse("suffix", "fill-in-the-middle is not supported")
        let text = try body.string("prompt") ?? ""
        let system = try body.string("system")
        let raw = try body.bool("raw") ?? false
        let stream = try body.bool("stream") ?? true
        let (options, context) = try options(body)
        var previous: [Int32] = []
        if let values = try body.array("context") {
            for value in values {
                guard let id = value.nonNegativeInteger, let token = Int32(exactly: id) else {
                    throw ServerError(.badRequest, "`context` must be an array of token ids", parameter: "context")
                }
                previous.append(token)
            }
        }
        let name = model ?? ""
        if text.isEmpty && previous.isEmpty {
            // Ollama's "load the model" request: nothing to generate.
            return JSONBody.response(JSONObject.members([
                ("model", .string(name)), ("created_at", .string(timestamp())), ("response", .string("")), ("done", .bool(true)),
                ("done_reason", .string("load")),
            ]))
        }
        var prompt = raw ? core.engine.prompt(raw: text)
            : try core.prompt(messages: (system.map { [ChatMessage.system($0)] } ?? []) + [.user(text)])
        if !previous.isEmpty {
            if let bos = core.engine.tokenizer.bos, prompt.first == bos { prompt.removeFirst() }
            prompt = previous + prompt
        }
        let adapter = try await core.adapterName(for: choice, query: text)
        let job = try core.job(prompt: prompt, adapterName: adapter, options: options, contextLength: context)
        return try await respond(job, model: name, adapter: adapter, stream: stream, begin: begin, chat: false)
    }

    // MARK: /api/chat

    func chat(_ request: Request) async throws(ServerError) -> Response {
        let begin = ContinuousClock.now
        let body = try await core.body(of: request)
        let model = try body.string("model")
        let choice = try core.catalog.resolve(model)
        try common(body)
        let stream = try body.bool("stream") ?? true
        let (options, context) = try options(body)
        let messages = try Messages.parse(try body.array("messages") ?? [])
        let name = model ?? ""
        if messages.isEmpty {
            return JSONBody.response(JSONObject.members([
                ("model", .string(name)), ("created_at", .string(timestamp())),
                ("message", JSONObject.members([("role", .string("assistant")), ("content", .string(""))])),
                ("done", .bool(true)), ("done_reason", .string("load")),
            ]))
        }
        let adapter = try await core.adapterName(for: choice, query: Messages.lastUserText(messages))
        let job = try core.job(prompt: try core.prompt(messages: messages), adapterName: adapter, options: options,
                               contextLength: context)
        return try await respond(job, model: name, adapter: adapter, stream: stream, begin: begin, chat: true)
    }

    private func respond(_ job: GenerationJob, model: String, adapter: String?, stream: Bool, begin: ContinuousClock.Instant,
                         chat: Bool) async throws(ServerError) -> Response {
        let headers: HTTPFields = [.adapterHeader: adapter ?? "none"]
        @Sendable func content(_ text: String) -> (String, JSONValue) {
            chat ? ("message", JSONObject.members([("role", .string("assistant")), ("content", .string(text))])) : ("response", .string(text))
        }
        let prompt = job.prompt
        let final: @Sendable (ServerCore.Collected) -> JSONValue = { reply in
            var members: [(String, JSONValue)] = [
                ("model", .string(model)), ("created_at", .string(timestamp())), content(stream ? "" : reply.text),
                ("done", .bool(true)), ("done_reason", .string(reply.reason.apiReason)),
            ]
            if !chat { members.append(("context", .array((prompt + reply.tokens).map { .int(Int($0)) }))) }
            let nanoseconds = { (seconds: Double) in JSONValue.int(Int((seconds * 1e9).rounded())) }
            members += [
                ("total_duration", nanoseconds((ContinuousClock.now - begin).seconds)), ("load_duration", .int(0)),
                ("prompt_eval_count", .int(reply.promptTokens)), ("prompt_eval_duration", nanoseconds(reply.prefillSeconds)),
                ("eval_count", .int(reply.tokens.count)), ("eval_duration", nanoseconds(reply.decodeSeconds)),
                ("adapter", .str(adapter)),
            ]
            return JSONObject.members(members)
        }
        if !stream {
            let reply = try await core.collect(job)
            return JSONBody.response(final(reply), headers: headers)
        }
        let events = try core.scheduler.submit(job)
        return core.streamed(
            events, contentType: "application/x-ndjson", headers: headers, frame: { JSONBody.buffer($0, newline: true) },
            piece: { text, _, _ in
                text.isEmpty ? nil : JSONObject.members([("model", .string(model)), ("created_at", .string(timestamp())), content(text),
                                                        ("done", .bool(false))])
            },
            end: { [final($0)] }, failure: { JSONObject.members([("error", .string($0.message))]) })
    }

    // MARK: Embeddings

    /// `/api/embed`: `input` a string or strings; unit-length embeddings (mean-pooled final states).
    func embed(_ request: Request) async throws(ServerError) -> Response {
        let begin = ContinuousClock.now
        let body = try await core.body(of: request)
        let model = try body.string("model")
        _ = try core.catalog.resolve(model)
        if let options = try body.object("options"), let key = options.keys.first {
            throw ServerError(.badRequest, "option `\(key)` does not apply to embeddings", parameter: "options." + key)
        }
        let inputs = try body.strings("input") ?? []
        guard !inputs.isEmpty else { throw ServerError(.badRequest, "`input` is required", parameter: "input") }
        let (vectors, tokens) = try await Embeddings.compute(inputs, core: core)
        return JSONBody.response(JSONObject.members([
            ("model", .string(model ?? "")), ("embeddings", .array(vectors.map { .array($0.map { .double(Double($0)) }) })),
            ("total_duration", .int(Int(((ContinuousClock.now - begin).seconds * 1e9).rounded()))), ("load_duration", .int(0)),
            ("prompt_eval_count", .int(tokens)),
        ]))
    }

    /// The older `/api/embeddings`: `prompt`, one `embedding`.
    func embeddings(_ request: Request) async throws(ServerError) -> Response {
        let body = try await core.body(of: request)
        _ = try core.catalog.resolve(try body.string("model"))
        guard let prompt = try body.string("prompt") else { throw ServerError(.badRequest, "`prompt` is required", parameter: "prompt") }
        let (vectors, _) = try await Embeddings.compute([prompt], core: core)
        return JSONBody.response(JSONObject.members([("embedding", .array(vectors[0].map { .double(Double($0)) }))]))
    }

    // MARK: Models

    private func details() -> JSONValue {
        let c = core.engine.model.configuration
        let parameters = Double(core.engine.model.file.tensors.reduce(0) { $0 + $1.elementCount })
        let size = parameters >= 1e9 ? String(format: "%.1fB", parameters / 1e9) : String(format: "%.0fM", parameters / 1e6)
        return JSONObject.members([
            ("parent_model", .string("")), ("format", .string("gguf")), ("family", .string(c.architecture.rawValue)),
            ("families", .array([.string(c.architecture.rawValue)])), ("parameter_size", .string(size)),
            ("quantization_level", .str(core.catalog.fileType)),
        ])
    }

    private func entries(running: Bool) -> JSONValue {
        let catalog = core.catalog
        let models = catalog.modelNames.map { name -> JSONValue in
            let full = name == catalog.baseName ? name + ":latest" : name
            var members: [(String, JSONValue)] = [("name", .string(full)), ("model", .string(full))]
            if running {
                members += [("size", .int(catalog.fileBytes)), ("digest", .string(catalog.digest)), ("details", details()),
                            ("expires_at", .string("2999-12-31T23:59:59Z")), ("size_vram", .int(0))]
            } else {
                members += [("modified_at", .string(timestamp(catalog.modified))), ("size", .int(catalog.fileBytes)),
                            ("digest", .string(catalog.digest)), ("details", details())]
            }
            return JSONObject.members(members)
        }
        return JSONObject.members([("models", .array(models))])
    }

    func tags() -> Response { JSONBody.response(entries(running: false)) }

    /// `/api/ps`: the base and what can run on it, loaded for as long as the server runs.
    func ps() -> Response { JSONBody.response(entries(running: true)) }

    func show(_ request: Request) async throws(ServerError) -> Response {
        let body = try await core.body(of: request)
        var name = try body.string("model")
        if name == nil { name = try body.string("name") }
        let choice = try core.catalog.resolve(name)
        let c = core.engine.model.configuration
        let architecture = c.architecture.rawValue
        var info: [(String, JSONValue)] = [
            ("general.architecture", .string(architecture)), ("\(architecture).context_length", .int(c.contextLength)),
            ("\(architecture).embedding_length", .int(c.embeddingLength)), ("\(architecture).block_count", .int(c.blockCount)),
            ("general.file", .string(core.engine.modelPath)),
        ]
        if case .adapter(let adapter) = choice { info.append(("loco.adapter", .string(adapter))) }
        if case .auto = choice { info.append(("loco.adapter", .string("auto"))) }
        let template = core.engine.template.map { _ in (try? core.engine.model.file.metadata.string("tokenizer.chat_template")) ?? "" } ?? ""
        return JSONBody.response(JSONObject.members([
            ("modelfile", .string("FROM \(core.engine.modelPath)\n")), ("parameters", .string("")), ("template", .string(template)),
            ("details", details()), ("model_info", JSONObject.members(info)), ("capabilities", .array([.string("completion")])),
            ("modified_at", .string(timestamp(core.catalog.modified))),
        ]))
    }
}

/// The chat messages of a request body (both APIs): `role` and `content`, a string or a list of
/// text parts.
enum Messages {
    static func parse(_ values: [JSONValue]) throws(ServerError) -> [ChatMessage] {
        var out: [ChatMessage] = []
        for (i, value) in values.enumerated() {
            guard case .object(let object) = value else {
                throw ServerError(.badRequest, "`messages[\(i)]` must be an object, not \(value.kindName)", parameter: "messages")
            }
            let message = JSONRequest(object: object, prefix: "messages[\(i)].")
            guard let role = try message.string("role") else {
                throw ServerError(.badRequest, "`messages[\(i)].role` is required", parameter: "messages")
            }
            guard ["system", "user", "assistant", "developer"].contains(role) else {
                throw ServerError(.badRequest, "`messages[\(i)].role` must be system, user or assistant, not \(role)", parameter: "messages")
            }
            try message.refuse("images", "the models served here read text only")
            try message.refuse("tool_calls", "tool calls are not supported")
            var text = ""
            switch object["content"] ?? .null {
            case .null: break
            case .string(let s): text = s
            case .array(let parts):
                for part in parts {
                    guard case .object(let p) = part, p["type"] == .string("text"), case .string(let s)? = p["text"] else {
                        throw ServerError(.badRequest, "`messages[\(i)].content` parts must be {\"type\": \"text\", \"text\": ...}; only text is read",
                                          parameter: "messages")
                    }
                    text += s
                }
            case let other:
                throw ServerError(.badRequest, "`messages[\(i)].content` must be a string or an array of text parts, not \(other.kindName)",
                                  parameter: "messages")
            }
            out.append(ChatMessage(role: role == "developer" ? .system : ChatMessage.Role(rawValue: role), content: text))
        }
        return out
    }

    /// What `auto` routes on: the last user message.
    static func lastUserText(_ messages: [ChatMessage]) -> String {
        messages.last { $0.role == .user }?.content ?? messages.last?.content ?? ""
    }
}

/// Embeddings for both APIs: each input's mean-pooled final hidden states, unit length, run
/// on the compute thread between decode steps.
enum Embeddings {
    static func compute(_ inputs: [String], core: ServerCore) async throws(ServerError) -> ([[Float]], Int) {
        let engine = core.engine
        let limit = core.configuration.contextLength
        var tokens = 0
        for (i, input) in inputs.enumerated() {
            let count = engine.prompt(raw: input).count
            guard count <= limit else {
                throw ServerError(.badRequest, "input \(i) has \(count) tokens; at most \(limit) are embedded (it is never cut)",
                                  parameter: "input")
            }
            tokens += count
        }
        do {
            return (try await core.scheduler.perform { try inputs.map { try engine.embedding(of: $0, normalized: true) } }, tokens)
        } catch {
            throw ServerError(.internalError, "embedding failed: \(error)")
        }
    }
}

extension HTTPField.Name {
    /// Which adapter answered a generation (`none`: the base).
    static let adapterHeader = HTTPField.Name("X-Loco-Adapter")!
}
