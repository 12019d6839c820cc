import ArgumentParser
import Dispatch
import Foundation
import LocoLLM
import LocoServer
import Synchronization

/// `loco serve`: the model behind Ollama's and OpenAI's APIs (LocoServer).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over Ollama's and OpenAI's HTTP APIs, with per-request adapters and `auto` routing.",
        discussion: """
            Requests name the base (e.g. smollm2-135m-instruct), an adapter of the registry (math, or \
            smollm2-135m-instruct:math), or auto. Up to --parallel replies are decoded together, each with \
            its own adapter; a reply is the same whether it ran alone or beside others. Binds to loopback \
            unless --host says otherwise. Documentation/Serving.md has the routes and client examples.
            """)

    @Option(help: "Address to bind (loopback by default; 0.0.0.0 for every interface).")
    var host = "127.0.0.1"

    @Option(help: "Port (0: any free port; the server prints the one it took).")
    var port = 11434

    @Option(help: "The GGUF model, or a name in the model store. Default: the default model.")
    var model: String?

    @Option(help: "The adapter registry folder (default: LOCO_ADAPTERS or the cache's).")
    var registry: String?

    @Option(help: "Require `Authorization: Bearer KEY` on every route but /health.")
    var apiKey: String?

    @Option(help: "Replies decoded together in one batched step.")
    var parallel = 4

    @Option(help: "Requests that may wait for a slot; more get 503 with Retry-After.")
    var maxQueue = 64

    @Option(help: "Positions each reply's session holds (default: the model's, at most 4096).")
    var ctx: Int?

    @Option(help: "New tokens a request may ask for (and its default).")
    var maxPredict = 2048

    @Option(help: "The base's name in the APIs (default: from the model file's name).")
    var name: String?

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp(chatTemplateHelp, valueName: "name"))
    var chatTemplate: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be at least 0") }
        guard maxPredict >= 1 else { throw ValidationError("--max-predict must be at least 1") }
        if let ctx, ctx < 16 { throw ValidationError("--ctx must be at least 16") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
    }

    func run() throws {
        let engine: Engine
        let server: LocoServer
        do {
            engine = try Engine(model: model, registry: AdapterRegistry(folder: registry), threads: threads, contextLength: ctx,
                                chatTemplate: chatTemplate)
            var configuration = ServerConfiguration()
            configuration.host = host
            configuration.port = port
            configuration.apiKey = apiKey
            configuration.parallel = parallel
            configuration.maxQueue = maxQueue
            configuration.contextLength = engine.contextLength
            configuration.maxPredict = maxPredict
            configuration.modelName = name
            server = try LocoServer(engine: engine, configuration: configuration)
        } catch {
            throw fail(error)
        }
        let names = server.modelNames
        let failure = Mutex<String?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let (parallel, context) = (self.parallel, engine.contextLength)
        Task {
            do {
                try await server.run { host, port in
                    let line = "loco serve: listening on http://\(host):\(port) (models: \(names.joined(separator: ", ")); "
                        + "parallel \(parallel), context \(context))\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            finished.signal()
        }
        finished.wait()
        if let message = failure.withLock({ $0 }) { throw fail(message) }
    }
}
