import Foundation
import Hummingbird
import LocoLLM

/// What both API families share: the engine, the models it offers, the scheduler, the limits,
/// and the steps from a request's model and prompt to a running job.
final class ServerCore: Sendable {
    let engine: Engine
    let catalog: ModelCatalog
    let scheduler: Scheduler
    let metrics: ServerMetrics
    let configuration: ServerConfiguration
    let started = Date()

    init(engine: Engine, configuration: ServerConfiguration) throws {
        self.engine = engine
        self.configuration = configuration
        catalog = try ModelCatalog(engine: engine, name: configuration.modelName)
        metrics = ServerMetrics()
        scheduler = Scheduler(engine: engine, parallel: configuration.parallel, maxQueue: configuration.maxQueue,
                              contextLength: configuration.contextLength, metrics: metrics)
    }

    /// A request's body, refused past the configured size.
    func body(of request: Request) async throws(ServerError) -> JSONRequest {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: configuration.maxBodyBytes) } catch {
            throw ServerError(.payloadTooLarge, "the request body is larger than \(configuration.maxBodyBytes) bytes")
        }
        return try JSONRequest(bytes: Array(buffer.readableBytesView))
    }

    /// The adapter a request's model choice comes to (nil: the base), routing `query` for `auto`.
    func adapterName(for choice: ModelCatalog.Choice, query: String) async throws(ServerError) -> String? {
        switch choice {
        case .base: return nil
        case .adapter(let name): return name
        case .auto:
            let catalog = self.catalog
            do { return try await scheduler.perform { try catalog.route(query) } } catch {
                throw ServerError(.internalError, "routing failed: \(error)")
            }
        }
    }

    /// The prompt of a conversation in the model's chat template.
    func prompt(messages: [ChatMessage]) throws(ServerError) -> [Int32] {
        do { return try engine.prompt(messages: messages) } catch {
            throw ServerError(.badRequest, "the conversation cannot be put in the model's chat template: \(error)", parameter: "messages")
        }
    }

    /// Checks `prompt` against the vocabulary and the request's context; makes the job.
    func job(prompt: [Int32], adapterName: String?, options: GenerationOptions, contextLength: Int?,
             promptLogprobs: Bool = false, topLogprobs: Int? = nil) throws(ServerError) -> GenerationJob {
        guard !prompt.isEmpty else { throw ServerError(.badRequest, "the prompt has no tokens", parameter: "prompt") }
        let vocabulary = engine.model.vocabularySize
        if let bad = prompt.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw ServerError(.badRequest, "token \(bad) is outside the vocabulary (0..<\(vocabulary))", parameter: "prompt")
        }
        let context = contextLength ?? configuration.contextLength
        guard prompt.count < context else {
            throw ServerError(.badRequest, "the prompt has \(prompt.count) tokens; the context holds \(context) (it is never cut)",
                              parameter: "prompt")
        }
        var adapters: AdapterSet?
        if let adapterName { adapters = try catalog.adapters(named: adapterName) }
        return GenerationJob(prompt: prompt, adapters: adapters, options: options, contextLength: context,
                             promptLogprobs: promptLogprobs, topLogprobs: topLogprobs)
    }

    /// A whole reply, for the non-streaming forms.
    struct Collected: Sendable {
        var text = ""
        var tokens: [Int32] = []
        var logprobs: [TokenLogprob] = []
        var promptLogprobs: [TokenLogprob?]?
        var promptTokens = 0
        var waited = 0.0
        var prefillSeconds = 0.0
        var decodeSeconds = 0.0
        var reason = StopReason.maxTokens
    }

    /// Runs `job` to the end.
    func collect(_ job: GenerationJob) async throws(ServerError) -> Collected {
        let events = try scheduler.submit(job)
        var out = Collected()
        for await event in events { _ = try out.add(event) }
        return out
    }

    /// `GenerationOptions` with the server's bound on new tokens.
    func checkedMaxTokens(_ requested: Int?, parameter: String) throws(ServerError) -> Int {
        guard let requested else { return configuration.maxPredict }
        guard requested <= configuration.maxPredict else {
            throw ServerError(.badRequest, "`\(parameter)` is \(requested); this server generates at most \(configuration.maxPredict) tokens",
                              parameter: parameter)
        }
        return requested
    }

    /// The text of token `id` alone (for log-probability listings).
    func piece(_ id: Int32) -> String { engine.tokenizer.decode([id]) }
}

/// Rendering JSON into response bodies.
enum JSONBody {
    static func buffer(_ value: JSONValue, newline: Bool = false) -> ByteBuffer {
        ByteBuffer(string: JSONWriter.encode(value, pretty: false) + (newline ? "\n" : ""))
    }

    static func response(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: buffer(value)))
    }
}

/// Ollama's timestamps: RFC 3339 with fractional seconds, UTC.
func timestamp(_ date: Date = Date()) -> String {
    date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}

extension StopReason {
    /// `stop` or `length`, as both APIs say it.
    var apiReason: String {
        switch self {
        case .endOfGeneration, .stopString, .cancelled: "stop"
        case .maxTokens, .contextFull: "length"
        }
    }
}

extension ServerCore.Collected {
    /// Adds one event; returns the text piece a token event brings (nil for other events).
    mutating func add(_ event: JobEvent) throws(ServerError) -> (text: String, token: Int32, logprob: TokenLogprob?)? {
        switch event {
        case .prefilled(let count, let waited, let seconds, let logprobs):
            promptTokens = count
            self.waited = waited
            prefillSeconds = seconds
            promptLogprobs = logprobs
            return nil
        case .token(let token, let text, let logprob):
            tokens.append(token)
            self.text += text
            if let logprob { logprobs.append(logprob) }
            return (text, token, logprob)
        case .finished(let reason, _, let seconds):
            self.reason = reason
            decodeSeconds = seconds
            return nil
        case .failed(let error):
            throw error
        }
    }
}

extension ServerCore {
    /// A streamed reply: `piece` makes a frame of each token's text (nil: nothing to send),
    /// `end` the frames after the last token, `failure` the frame of an error part-way; `frame`
    /// writes one value in the API's framing, `trailer` closes the stream. A client that goes
    /// away stops the writes; dropping the events then cancels the job and frees its slot.
    func streamed(_ events: AsyncStream<JobEvent>, contentType: String, headers: HTTPFields = [:],
                  frame: @escaping @Sendable (JSONValue) -> ByteBuffer,
                  piece: @escaping @Sendable (String, Int32, TokenLogprob?) -> JSONValue?,
                  end: @escaping @Sendable (Collected) -> [JSONValue],
                  failure: @escaping @Sendable (ServerError) -> JSONValue, trailer: ByteBuffer? = nil,
                  preamble: ByteBuffer? = nil) -> Response {
        var fields = headers
        fields[.contentType] = contentType
        fields[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: fields, body: ResponseBody { writer in
            var state = Collected()
            if let preamble { try await writer.write(preamble) }
            do {
                for await event in events {
                    if let (text, token, logprob) = try state.add(event), let value = piece(text, token, logprob) {
                        try await writer.write(frame(value))
                    }
                }
                for value in end(state) { try await writer.write(frame(value)) }
            } catch let error as ServerError {
                try await writer.write(frame(failure(error)))
            }
            if let trailer { try await writer.write(trailer) }
            try await writer.finish(nil)
        })
    }
}
