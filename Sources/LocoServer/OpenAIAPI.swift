import Foundation
import Hummingbird
import LocoLLM

/// OpenAI's API (`/v1/...`): chat completions and completions (server-sent events ending in
/// `data: [DONE]`, or one object, `usage` filled), models and embeddings. `/v1/completions`
/// also takes token-id prompts and, with `echo` and `logprobs`, returns the prompt tokens'
/// log-probabilities: what lm-evaluation-harness's log-likelihood tasks need, and what neither
/// Ollama nor llama-server gives.
struct OpenAIAPI: Sendable {
    let core: ServerCore

    /// Sampling options common to both generation routes.
    private func options(_ body: JSONRequest, maxTokens: Int?) throws(ServerError) -> GenerationOptions {
        var sampler = SamplerSettings()
        if let t = try body.number("temperature", in: 0...2) { sampler.temperature = Float(t) }
        if let p = try body.number("top_p", in: 0...1) { sampler.topP = Float(p) }
        if let k = try body.integer("top_k", in: 0...core.engine.model.vocabularySize) { sampler.topK = k }
        if let p = try body.number("min_p", in: 0...1) { sampler.minP = Float(p) }
        if let p = try body.number("presence_penalty", in: -2...2) { sampler.presencePenalty = Float(p) }
        if let p = try body.number("frequency_penalty", in: -2...2) { sampler.frequencyPenalty = Float(p) }
        if let r = try body.number("repeat_penalty", in: 0.0001...100) { sampler.repetitionPenalty = Float(r) }
        if let seed = try body.integer("seed", in: Int.min...Int.max) { sampler.seed = UInt64(bitPattern: Int64(seed)) }
        if let n = try body.integer("n", in: 1...Int.max), n != 1 {
            throw ServerError(.badRequest, "`n` must be 1: one choice per request", parameter: "n")
        }
        if let n = try body.integer("best_of", in: 1...Int.max), n != 1 {
            throw ServerError(.badRequest, "`best_of` must be 1", parameter: "best_of")
        }
        if let bias = try body.object("logit_bias"), !bias.keys.isEmpty {
            throw ServerError(.badRequest, "`logit_bias` is not supported", parameter: "logit_bias")
        }
        try body.refuse("tools", "tool calls are not supported")
        try body.refuse("functions", "function calls are not supported")
        if let format = try body.object("response_format"), try format.string("type") != "text" {
            throw ServerError(.badRequest, "`response_format` must be text: structured output is not supported", parameter: "response_format")
        }
        let limit = try core.checkedMaxTokens(maxTokens, parameter: "max_tokens")
        // llama-server's extension: generate past end-of-generation tokens (fixed-length runs for benchmarks).
        let ignoreEnd = try body.bool("ignore_eos") ?? false
        return GenerationOptions(maxTokens: limit, sampler: sampler, stopStrings: try body.strings("stop") ?? [],
                                 stopAtEndOfGeneration: !ignoreEnd)
    }

    private func includeUsage(_ body: JSONRequest) throws(ServerError) -> Bool {
        try body.object("stream_options")?.bool("include_usage") ?? false
    }

    private static func identifier(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    }

    private static func usage(_ reply: ServerCore.Collected) -> JSONValue {
        JSONObject.members([("prompt_tokens", .int(reply.promptTokens)), ("completion_tokens", .int(reply.tokens.count)),
                            ("total_tokens", .int(reply.promptTokens + reply.tokens.count))])
    }

    private static func sse(_ value: JSONValue) -> ByteBuffer { ByteBuffer(string: "data: " + JSONWriter.encode(value, pretty: false) + "\n\n") }
    private static let done = ByteBuffer(string: "data: [DONE]\n\n")

    // MARK: /v1/chat/completions

    func chatCompletions(_ request: Request) async throws(ServerError) -> Response {
        let body = try await core.body(of: request)
        let model = try body.string("model") ?? ""
        let choice = try core.catalog.resolve(model)
        var maxTokens = try body.integer("max_completion_tokens", in: 0...Int(Int32.max))
        if maxTokens == nil { maxTokens = try body.integer("max_tokens", in: 0...Int(Int32.max)) }
        let options = try options(body, maxTokens: maxTokens)
        let wantLogprobs = try body.bool("logprobs") ?? false
        let top = try body.integer("top_logprobs", in: 0...20)
        let stream = try body.bool("stream") ?? false
        let usage = try includeUsage(body)
        let messages = try Messages.parse(try body.array("messages") ?? [])
        guard !messages.isEmpty else { throw ServerError(.badRequest, "`messages` must not be empty", parameter: "messages") }
        let adapter = try await core.adapterName(for: choice, query: Messages.lastUserText(messages))
        let job = try core.job(prompt: try core.prompt(messages: messages), adapterName: adapter, options: options, contextLength: nil,
                               topLogprobs: wantLogprobs ? (top ?? 0) : nil)
        let id = Self.identifier("chatcmpl"), created = Int(Date().timeIntervalSince1970)
        let headers: HTTPFields = [.adapterHeader: adapter ?? "none"]
        let core = self.core
        @Sendable func logprobContent(_ entries: [TokenLogprob]) -> JSONValue {
            JSONObject.members([("content", .array(entries.map { entry in
                let text = core.piece(entry.token)
                return JSONObject.members([
                    ("token", .string(text)), ("logprob", .double(entry.logprob)), ("bytes", .array(Array(text.utf8).map { .int(Int($0)) })),
                    ("top_logprobs", .array(entry.top.map { alternative in
                        let piece = core.piece(alternative.token)
                        return JSONObject.members([("token", .string(piece)), ("logprob", .double(alternative.logprob)),
                                                   ("bytes", .array(Array(piece.utf8).map { .int(Int($0)) }))])
                    })),
                ])
            }))])
        }
        if !stream {
            let reply = try await core.collect(job)
            let choice = JSONObject.members([
                ("index", .int(0)), ("message", JSONObject.members([("role", .string("assistant")), ("content", .string(reply.text))])),
                ("logprobs", wantLogprobs ? logprobContent(reply.logprobs) : .null), ("finish_reason", .string(reply.reason.apiReason)),
            ])
            return JSONBody.response(JSONObject.members([
                ("id", .string(id)), ("object", .string("chat.completion")), ("created", .int(created)), ("model", .string(model)),
                ("choices", .array([choice])), ("usage", Self.usage(reply)), ("system_fingerprint", .string(core.catalog.digest)),
                ("adapter", .str(adapter)),
            ]), headers: headers)
        }
        let events = try core.scheduler.submit(job)
        @Sendable func chunk(_ delta: JSONValue, finish: String?, logprobs: JSONValue = .null) -> JSONValue {
            JSONObject.members([
                ("id", .string(id)), ("object", .string("chat.completion.chunk")), ("created", .int(created)), ("model", .string(model)),
                ("choices", .array([JSONObject.members([("index", .int(0)), ("delta", delta), ("logprobs", logprobs),
                                                        ("finish_reason", .str(finish))])])),
                ("adapter", .str(adapter)),
            ])
        }
        // The role comes in a first chunk of its own, as OpenAI sends it.
        let first = Self.sse(chunk(JSONObject.members([("role", .string("assistant")), ("content", .string(""))]), finish: nil))
        return core.streamed(
            events, contentType: "text/event-stream", headers: headers,
            frame: Self.sse,
            piece: { text, _, logprob in
                guard !text.isEmpty || logprob != nil else { return nil }
                return chunk(JSONObject.members([("content", .string(text))]), finish: nil,
                             logprobs: logprob.map { logprobContent([$0]) } ?? .null)
            },
            end: { reply in
                var frames = [chunk(JSONObject.members([]), finish: reply.reason.apiReason)]
                if usage {
                    frames.append(JSONObject.members([
                        ("id", .string(id)), ("object", .string("chat.completion.chunk")), ("created", .int(created)),
                        ("model", .string(model)), ("choices", .array([])), ("usage", Self.usage(reply)),
                    ]))
                }
                return frames
            },
            failure: { error in JSONObject.members([("error", Self.errorObject(error))]) }, trailer: Self.done, preamble: first)
    }

    // MARK: /v1/completions

    func completions(_ request: Request) async throws(ServerError) -> Response {
        let body = try await core.body(of: request)
        let model = try body.string("model") ?? ""
        let choice = try core.catalog.resolve(model)
        let maxTokens = try body.integer("max_tokens", in: 0...Int(Int32.max)) ?? 16
        let options = try options(body, maxTokens: maxTokens)
        let logprobs = try body.integer("logprobs", in: 0...20)
        let echo = try body.bool("echo") ?? false
        let stream = try body.bool("stream") ?? false
        let usage = try includeUsage(body)
        try body.refuse("suffix", "fill-in-the-middle is not supported")
        let prompts = try Self.prompts(body, core: core)
        guard !prompts.isEmpty else { throw ServerError(.badRequest, "`prompt` is required", parameter: "prompt") }
        if stream && (prompts.count > 1 || echo) {
            throw ServerError(.badRequest, "streaming takes one prompt and no `echo`", parameter: "stream")
        }
        let id = Self.identifier("cmpl"), created = Int(Date().timeIntervalSince1970)
        // Route each prompt; the jobs are queued before any is awaited, so they decode together.
        var jobs: [(GenerationJob, String?, String)] = []
        for prompt in prompts {
            let adapter = try await core.adapterName(for: choice, query: prompt.text)
            let job = try core.job(prompt: prompt.tokens, adapterName: adapter, options: options, contextLength: nil,
                                   promptLogprobs: echo && logprobs != nil, topLogprobs: logprobs)
            jobs.append((job, adapter, prompt.text))
        }
        let headers: HTTPFields = [.adapterHeader: jobs.map { $0.1 ?? "none" }.joined(separator: ",")]
        if stream {
            let (job, adapter, _) = jobs[0]
            let events = try core.scheduler.submit(job)
            let core = self.core
            @Sendable func chunk(_ text: String, finish: String?, logprob: TokenLogprob?) -> JSONValue {
                JSONObject.members([
                    ("id", .string(id)), ("object", .string("text_completion")), ("created", .int(created)), ("model", .string(model)),
                    ("choices", .array([JSONObject.members([
                        ("text", .string(text)), ("index", .int(0)),
                        ("logprobs", logprob.map { Self.legacyLogprobs(tokens: [$0.token], entries: [$0], core: core) } ?? .null),
                        ("finish_reason", .str(finish)),
                    ])])),
                    ("adapter", .str(adapter)),
                ])
            }
            return core.streamed(
                events, contentType: "text/event-stream", headers: headers, frame: Self.sse,
                piece: { text, _, logprob in text.isEmpty && logprob == nil ? nil : chunk(text, finish: nil, logprob: logprob) },
                end: { reply in
                    var frames = [chunk("", finish: reply.reason.apiReason, logprob: nil)]
                    if usage {
                        frames.append(JSONObject.members([
                            ("id", .string(id)), ("object", .string("text_completion")), ("created", .int(created)),
                            ("model", .string(model)), ("choices", .array([])), ("usage", Self.usage(reply)),
                        ]))
                    }
                    return frames
                },
                failure: { JSONObject.members([("error", Self.errorObject($0))]) }, trailer: Self.done)
        }
        // Every prompt's job is submitted before any is awaited.
        var streams: [AsyncStream<JobEvent>] = []
        for (job, _, _) in jobs { streams.append(try core.scheduler.submit(job)) }
        var choices: [JSONValue] = []
        var promptTokens = 0, completionTokens = 0
        for (index, events) in streams.enumerated() {
            var reply = ServerCore.Collected()
            for await event in events { _ = try reply.add(event) }
            let (job, _, promptText) = jobs[index]
            promptTokens += reply.promptTokens
            completionTokens += reply.tokens.count
            var text = reply.text
            var logprobValue = JSONValue.null
            if let logprobs {
                var entries: [TokenLogprob?] = []
                if echo { entries = reply.promptLogprobs ?? job.prompt.map { _ in nil } }
                entries += reply.logprobs.map { Optional($0) }
                logprobValue = Self.legacyLogprobs(tokens: (echo ? job.prompt : []) + reply.tokens, entries: entries, core: core)
            }
            if echo { text = promptText + text }
            choices.append(JSONObject.members([
                ("text", .string(text)), ("index", .int(index)), ("logprobs", logprobValue),
                ("finish_reason", .string(reply.reason.apiReason)),
            ]))
        }
        return JSONBody.response(JSONObject.members([
            ("id", .string(id)), ("object", .string("text_completion")), ("created", .int(created)), ("model", .string(model)),
            ("choices", .array(choices)),
            ("usage", JSONObject.members([("prompt_tokens", .int(promptTokens)), ("completion_tokens", .int(completionTokens)),
                                          ("total_tokens", .int(promptTokens + completionTokens))])),
            ("adapter", jobs.count == 1 ? .str(jobs[0].1) : .array(jobs.map { .str($0.1) })),
        ]), headers: headers)
    }

    /// A completion prompt: `prompt` as a string, strings, token ids, or lists of token ids.
    struct Prompt: Sendable {
        var tokens: [Int32]
        var text: String
    }

    static func prompts(_ body: JSONRequest, core: ServerCore) throws(ServerError) -> [Prompt] {
        guard let value = body.object["prompt"], value != .null else { return [] }
        let engine = core.engine
        func ids(_ values: [JSONValue]) throws(ServerError) -> [Int32] {
            var out: [Int32] = []
            for value in values {
                guard let id = value.nonNegativeInteger, let token = Int32(exactly: id) else {
                    throw ServerError(.badRequest, "`prompt` token lists must hold token ids (non-negative integers)", parameter: "prompt")
                }
                out.append(token)
            }
            return out
        }
        func text(_ s: String) -> Prompt { Prompt(tokens: engine.prompt(raw: s), text: s) }
        func tokens(_ t: [Int32]) -> Prompt { Prompt(tokens: t, text: engine.tokenizer.decode(t)) }
        switch value {
        case .string(let s): return [text(s)]
        case .array(let elements):
            if elements.isEmpty { return [] }
            if case .number = elements[0] { return [tokens(try ids(elements))] }
            var out: [Prompt] = []
            for element in elements {
                switch element {
                case .string(let s): out.append(text(s))
                case .array(let inner): out.append(tokens(try ids(inner)))
                default:
                    throw ServerError(.badRequest, "`prompt` must be a string, strings, token ids or lists of token ids", parameter: "prompt")
                }
            }
            return out
        default:
            throw ServerError(.badRequest, "`prompt` must be a string, strings, token ids or lists of token ids, not \(value.kindName)",
                              parameter: "prompt")
        }
    }

    /// The legacy `logprobs` object of `tokens` (`entries[i]` nil where a token has none: the
    /// first prompt token): `tokens`, `token_logprobs`, `top_logprobs`, `text_offset`.
    static func legacyLogprobs(tokens: [Int32], entries: [TokenLogprob?], core: ServerCore) -> JSONValue {
        var offset = 0
        var pieces: [JSONValue] = [], values: [JSONValue] = [], tops: [JSONValue] = [], offsets: [JSONValue] = []
        for (i, token) in tokens.enumerated() {
            let piece = core.piece(token)
            pieces.append(.string(piece))
            offsets.append(.int(offset))
            offset += piece.count
            let entry = i < entries.count ? entries[i] : nil
            values.append(entry.map { .double($0.logprob) } ?? .null)
            if let entry {
                // Keys must be distinct: two ids can decode to the same text; the likelier is kept.
                var seen = Set<String>()
                var members: [(String, JSONValue)] = []
                for alternative in entry.top {
                    let text = core.piece(alternative.token)
                    if seen.insert(text).inserted { members.append((text, .double(alternative.logprob))) }
                }
                tops.append(JSONObject.members(members))
            } else {
                tops.append(.null)
            }
        }
        return JSONObject.members([("tokens", .array(pieces)), ("token_logprobs", .array(values)), ("top_logprobs", .array(tops)),
                                   ("text_offset", .array(offsets))])
    }

    // MARK: /v1/models, /v1/embeddings

    func models() -> Response {
        let created = Int(core.catalog.modified.timeIntervalSince1970)
        return JSONBody.response(JSONObject.members([
            ("object", .string("list")),
            ("data", .array(core.catalog.modelNames.map {
                JSONObject.members([("id", .string($0)), ("object", .string("model")), ("created", .int(created)),
                                    ("owned_by", .string("locollm"))])
            })),
        ]))
    }

    func embeddings(_ request: Request) async throws(ServerError) -> Response {
        let body = try await core.body(of: request)
        let model = try body.string("model") ?? ""
        _ = try core.catalog.resolve(model)
        let format = try body.string("encoding_format") ?? "float"
        guard format == "float" || format == "base64" else {
            throw ServerError(.badRequest, "`encoding_format` must be float or base64", parameter: "encoding_format")
        }
        if try body.integer("dimensions", in: 1...Int.max) != nil {
            throw ServerError(.badRequest, "`dimensions` is not supported: embeddings have the model's width", parameter: "dimensions")
        }
        let inputs = try Self.prompts(JSONRequest(object: JSONObject([("prompt", body.object["input"] ?? .null)])), core: core).map(\.text)
        guard !inputs.isEmpty else { throw ServerError(.badRequest, "`input` is required", parameter: "input") }
        let (vectors, tokens) = try await Embeddings.compute(inputs, core: core)
        let data = vectors.enumerated().map { index, vector -> JSONValue in
            let embedding: JSONValue
            if format == "base64" {
                let bytes = vector.withUnsafeBufferPointer { Data(buffer: $0) }
                embedding = .string(bytes.base64EncodedString())
            } else {
                embedding = .array(vector.map { .double(Double($0)) })
            }
            return JSONObject.members([("object", .string("embedding")), ("embedding", embedding), ("index", .int(index))])
        }
        return JSONBody.response(JSONObject.members([
            ("object", .string("list")), ("data", .array(data)), ("model", .string(model)),
            ("usage", JSONObject.members([("prompt_tokens", .int(tokens)), ("total_tokens", .int(tokens))])),
        ]))
    }

    // MARK: Tokenizer routes (as vLLM names them; lm-evaluation-harness's remote tokenizer)

    /// `GET /tokenizer_info`: the special tokens and the chat template.
    func tokenizerInfo() -> Response {
        let tokenizer = core.engine.tokenizer
        let template = (try? core.engine.model.file.metadata.string("tokenizer.chat_template")) ?? ""
        return JSONBody.response(JSONObject.members([
            ("eos_token", .str(tokenizer.eos.flatMap(tokenizer.tokenText))), ("bos_token", .str(tokenizer.bos.flatMap(tokenizer.tokenText))),
            ("pad_token", .null), ("chat_template", template.isEmpty ? .null : .string(template)),
            ("model_max_length", .int(core.configuration.contextLength)), ("vocab_size", .int(core.engine.model.vocabularySize)),
        ]))
    }

    /// `POST /tokenize`: `prompt` (or llama-server's `content`) to ids; special-token text is
    /// read as the special token; `add_special_tokens` (or `add_special`) adds the model's BOS.
    func tokenize(_ request: Request) async throws(ServerError) -> Response {
        let body = try await core.body(of: request)
        var text = try body.string("prompt")
        if text == nil { text = try body.string("content") }
        guard let text else { throw ServerError(.badRequest, "`prompt` is required", parameter: "prompt") }
        var special = try body.bool("add_special_tokens")
        if special == nil { special = try body.bool("add_special") }
        let tokens = core.engine.tokenizer.encode(text, addSpecial: special ?? false, parseSpecial: true)
        return JSONBody.response(JSONObject.members([
            ("tokens", .array(tokens.map { .int(Int($0)) })), ("count", .int(tokens.count)),
            ("max_model_len", .int(core.configuration.contextLength)),
        ]))
    }

    /// `POST /detokenize`: `tokens` to text (special tokens written out).
    func detokenize(_ request: Request) async throws(ServerError) -> Response {
        let body = try await core.body(of: request)
        let tokens = try Self.prompts(JSONRequest(object: JSONObject([("prompt", .array(try body.array("tokens") ?? []))])), core: core)
        let ids = tokens.first?.tokens ?? []
        let vocabulary = core.engine.model.vocabularySize
        if let bad = ids.first(where: { Int($0) >= vocabulary }) {
            throw ServerError(.badRequest, "token \(bad) is outside the vocabulary (0..<\(vocabulary))", parameter: "tokens")
        }
        let text = core.engine.tokenizer.decode(ids, renderSpecial: true)
        return JSONBody.response(JSONObject.members([("prompt", .string(text)), ("content", .string(text))]))
    }

    static func errorObject(_ error: ServerError) -> JSONValue {
        JSONObject.members([("message", .string(error.message)), ("type", .string(error.openAIType)), ("param", .str(error.parameter)),
                            ("code", .null)])
    }
}
