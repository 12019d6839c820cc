import Foundation
import Hummingbird
import LocoLLM
import Logging

/// `loco serve`: one ``Engine`` behind Ollama's API and OpenAI's, on Hummingbird 2.
///
/// Every request shares the one immutable base. A request names the base, an adapter of the
/// registry (`math`, or `smollm2-135m-instruct:math`), or `auto` (the router picks; the
/// `X-Loco-Adapter` header and an `adapter` field say which answered). Generations run on one
/// compute thread that decodes up to `parallel` replies together in one batched step, each with
/// its own adapter; replies are the same bits whether they ran alone or beside others.
///
/// ```swift
/// let engine = try Engine()
/// var configuration = ServerConfiguration()
/// configuration.port = 8080
/// try await LocoServer(engine: engine, configuration: configuration).run { host, port in
///     print("listening on http://\(host):\(port)")
/// }
/// ```
public struct LocoServer: Sendable {
    let core: ServerCore

    /// Prepares the server: hashes the model file (for the digest the APIs list) and starts the
    /// compute thread.
    public init(engine: Engine, configuration: ServerConfiguration) throws {
        precondition(configuration.parallel >= 1 && configuration.maxQueue >= 0, "parallel must be at least 1")
        core = try ServerCore(engine: engine, configuration: configuration)
    }

    /// The base's name in the APIs.
    public var baseName: String { core.catalog.baseName }

    /// Every model name the server answers to.
    public var modelNames: [String] { core.catalog.modelNames }

    /// Serves until SIGINT or SIGTERM; `onListening` gets the bound host and port (the real
    /// one when the configuration asked for port 0).
    public func run(onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws {
        let configuration = core.configuration
        var logger = Logger(label: "loco-serve")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let application = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port),
                                                    serverName: "loco-serve"),
            onServerRunning: { channel in
                onListening(configuration.host, channel.localAddress?.port ?? configuration.port)
            },
            logger: logger)
        try await application.runService()
    }

    /// The routes, for running in another application (or tests).
    public func makeRouter() -> Router<BasicRequestContext> {
        let core = self.core
        let router = Router()
        if let key = core.configuration.apiKey { router.add(middleware: BearerAuthentication(key: key)) }
        let ollama = OllamaAPI(core: core), openAI = OpenAIAPI(core: core)

        router.get("/health") { _, _ in
            let load = core.scheduler.load
            return JSONBody.response(JSONObject.members([
                ("status", .string("ok")), ("model", .string(core.catalog.baseName)), ("running", .int(load.running)),
                ("waiting", .int(load.waiting)), ("parallel", .int(core.configuration.parallel)),
            ]))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: core.metrics.text())))
        }
        router.get("/") { _, _ in "Ollama is running (loco serve)" }
        router.head("/") { _, _ in HTTPResponse.Status.ok }

        // Ollama.
        router.post("/api/generate") { request, _ in await handle(.ollama, "/api/generate", core) { () throws(ServerError) in try await ollama.generate(request) } }
        router.post("/api/chat") { request, _ in await handle(.ollama, "/api/chat", core) { () throws(ServerError) in try await ollama.chat(request) } }
        router.post("/api/embed") { request, _ in await handle(.ollama, "/api/embed", core) { () throws(ServerError) in try await ollama.embed(request) } }
        router.post("/api/embeddings") { request, _ in
            await handle(.ollama, "/api/embeddings", core) { () throws(ServerError) in try await ollama.embeddings(request) }
        }
        router.post("/api/show") { request, _ in await handle(.ollama, "/api/show", core) { () throws(ServerError) in try await ollama.show(request) } }
        router.get("/api/tags") { _, _ in await handle(.ollama, "/api/tags", core) { () throws(ServerError) in ollama.tags() } }
        router.get("/api/ps") { _, _ in await handle(.ollama, "/api/ps", core) { () throws(ServerError) in ollama.ps() } }
        router.get("/api/version") { _, _ in JSONBody.response(JSONObject.members([("version", .string(LocoServer.version))])) }

        // OpenAI.
        router.post("/v1/chat/completions") { request, _ in
            await handle(.openAI, "/v1/chat/completions", core) { () throws(ServerError) in try await openAI.chatCompletions(request) }
        }
        router.post("/v1/completions") { request, _ in
            await handle(.openAI, "/v1/completions", core) { () throws(ServerError) in try await openAI.completions(request) }
        }
        router.get("/v1/models") { _, _ in await handle(.openAI, "/v1/models", core) { () throws(ServerError) in openAI.models() } }
        router.post("/v1/embeddings") { request, _ in
            await handle(.openAI, "/v1/embeddings", core) { () throws(ServerError) in try await openAI.embeddings(request) }
        }
        router.get("/tokenizer_info") { _, _ in openAI.tokenizerInfo() }
        router.post("/tokenize") { request, _ in await handle(.openAI, "/tokenize", core) { () throws(ServerError) in try await openAI.tokenize(request) } }
        router.post("/detokenize") { request, _ in
            await handle(.openAI, "/detokenize", core) { () throws(ServerError) in try await openAI.detokenize(request) }
        }
        return router
    }

    /// The version `/api/version` reports.
    public static let version = "0.12.0-loco"
}

/// Which error shape a route answers with.
enum APIFamily { case ollama, openAI }

/// Runs a route, turning a ``ServerError`` into the family's JSON error body and counting the
/// request by route and status.
func handle(_ family: APIFamily, _ route: String, _ core: ServerCore,
            _ body: () async throws(ServerError) -> Response) async -> Response {
    let response: Response
    do {
        response = try await body()
    } catch {
        var headers: HTTPFields = [:]
        if let seconds = error.retryAfter { headers[.retryAfter] = String(seconds) }
        let value: JSONValue = switch family {
        case .ollama: JSONObject.members([("error", .string(error.message))])
        case .openAI: JSONObject.members([("error", OpenAIAPI.errorObject(error))])
        }
        response = JSONBody.response(value, status: error.status, headers: headers)
    }
    core.metrics.requests(route, status: response.status.code).increment()
    return response
}

/// With an API key: every route but `/health` needs `Authorization: Bearer KEY`.
struct BearerAuthentication<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        let given = Array((request.headers[.authorization] ?? "").utf8), expected = Array("Bearer \(key)".utf8)
        // Compared in time independent of where they differ.
        var difference = given.count ^ expected.count
        for i in 0..<min(given.count, expected.count) { difference |= Int(given[i] ^ expected[i]) }
        guard difference == 0 else {
            let value = request.uri.path.hasPrefix("/v1/")
                ? JSONObject.members([("error", OpenAIAPI.errorObject(ServerError(.unauthorized, "a valid API key is required")))])
                : JSONObject.members([("error", .string("unauthorized: a valid API key is required"))])
            return JSONBody.response(value, status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }
}
