import ArgumentParser
import Foundation
import LocoLLM

/// `loco route`: which adapter a query goes to, fitting a router, scoring one on a labelled set.
struct Route: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Route a query to an adapter (or the base model); fit and evaluate routers.",
        subcommands: [Decide.self, Fit.self, Evaluate.self], defaultSubcommand: Decide.self)

    struct Options: ParsableArguments {
        @Option(help: "The GGUF base model whose embeddings route, or a name in the model store. Default: the default model.")
        var model: String?

        @Option(help: "The routes file: {\"routes\": [{\"name\", \"description\", \"keywords\", \"examples\"}], \"none_examples\": [...]}. Default: the adapters in the registry with router keywords or examples.")
        var routes: String?

        @Option(help: "The adapter registry whose manifests give the routes (default: $LOCO_ADAPTERS or ~/.cache/locollm/adapters).")
        var registry: String?

        @Option(help: "keyword (upstream's rule), centroid or logistic (the base model's embeddings; 'embedding' is logistic), or hybrid (logistic with keyword hits as a prior).")
        var method: String = "logistic"

        @Option(help: "A router file written by 'loco route fit' (instead of fitting on --routes).")
        var router: String?

        @Option(help: "Labelled queries (JSONL, {\"query\", \"label\"}) to fit on as well, as examples of their routes.")
        var fitData: String?

        @Option(help: "Below this confidence the embedding router answers with the base model.")
        var threshold: Double = 0.5

        @Option(help: "The embedding methods pool the hidden states after this many blocks (default: two thirds of the model's; its block count: the final states).")
        var layer: Int?

        @Option(help: ArgumentHelp("hybrid: the log-probability one keyword hit adds.", visibility: .hidden))
        var keywordWeight: Double = HybridRouter.defaultWeight

        @Option(help: "Compute threads (default: all cores).")
        var threads: Int?

        var routingMethod: RoutingMethod? { method == "embedding" ? .logistic : RoutingMethod(rawValue: method) }

        func validate() throws {
            guard routingMethod != nil else { throw ValidationError("--method must be keyword, centroid, logistic, embedding or hybrid") }
            guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1") }
            if let layer, layer < 1 { throw ValidationError("--layer must be at least 1") }
            guard routes == nil || router == nil else { throw ValidationError("give at most one of --routes and --router") }
        }

        func makeRouter(engine given: Engine? = nil) throws -> FittedRouter {
            let needsModel = router != nil || routingMethod != .keyword
            var engine = given
            if engine == nil, needsModel { engine = try Engine(model: model, threads: threads) }
            if let router, let engine { return try FittedRouter(contentsOf: router, engine: engine) }
            var table = try routes.map { try Routes(contentsOf: $0) } ?? Routes(registry: AdapterRegistry(folder: registry))
            if let fitData { table = try table.adding(LabelledQuery.read(jsonl: FileSystem.read(fitData, limit: 256 << 20), source: fitData)) }
            return try FittedRouter(table, method: routingMethod!, engine: engine, threshold: threshold, keywordWeight: keywordWeight,
                                    layers: layer)
        }
    }

    struct Decide: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decide", abstract: "Print the route of one query (the default subcommand).")

        @Argument(help: "The query.")
        var query: String

        @OptionGroup var options: Options

        @Flag(help: "Print {\"route\": NAME|null, \"confidence\", \"scores\", \"reason\"}.")
        var json = false

        func run() throws {
            do {
                let decision = try options.makeRouter().route(query)
                if json {
                    print(try encodeJSON(decision))
                } else {
                    print("\(decision.route ?? "base") (confidence \(String(format: "%.2f", decision.confidence))): \(decision.reason)")
                }
            } catch {
                throw fail(error)
            }
        }
    }

    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit an embedding router on a routes file and write it as JSON.")

        @OptionGroup var options: Options

        @Option(help: "Where to write the router (written atomically).")
        var out: String

        func run() throws {
            do {
                guard options.router == nil, options.routingMethod == .centroid || options.routingMethod == .logistic else {
                    throw ValidationError("fit takes --routes and an embedding method (centroid or logistic)")
                }
                let fitted = try options.makeRouter()
                try fitted.embedding!.write(to: out)
                FileHandle.standardError.write(Data("loco: \(fitted.method.rawValue) router over \(fitted.embedding!.routes.count) routes -> \(out)\n".utf8))
            } catch let error as ValidationError {
                throw fail(error.message)
            } catch {
                throw fail(error)
            }
        }
    }

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "eval", abstract: "Score a router on a labelled set: accuracy, precision and recall per route, confusion.")

        @OptionGroup var options: Options

        @Option(help: "Labelled queries, JSONL: {\"query\": \"...\", \"label\": ROUTE|\"none\"} per line.")
        var data: String

        @Flag(help: "Print {\"accuracy\", \"confusion\", \"per_route\", \"median_decision_seconds\", \"decisions\"}.")
        var json = false

        func run() throws {
            do {
                let set = try LabelledQuery.read(jsonl: FileSystem.read(data, limit: 256 << 20), source: data)
                let result = try options.makeRouter().evaluate(set)
                if json {
                    print(try encodeJSON(result))
                    return
                }
                print("accuracy \(String(format: "%.1f", result.accuracy * 100))% on \(result.decisions.count) queries"
                    + (result.medianDecisionSeconds.map { String(format: ", median decision %.1f ms", $0 * 1000) } ?? ""))
                for (route, scores) in result.perRoute.sorted(by: { $0.key < $1.key }) {
                    print("  \(route): precision \(String(format: "%.2f", scores.precision)), recall \(String(format: "%.2f", scores.recall)) (\(scores.support) queries)")
                }
            } catch {
                throw fail(error)
            }
        }
    }
}

/// `loco ask`: routes a question to an adapter, says which and why, and streams the answer.
struct Ask: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a question through the adapter a router picks for it.",
        discussion: """
            The routes are the registry's adapters with router keywords or examples (or --routes / \
            --router). Which adapter answered, and why, goes to standard error; the answer streams \
            to standard output, then a statistics line.
            """)

    @Argument(help: "The question.")
    var question: String

    @OptionGroup var routing: Route.Options

    @Option(help: "Tokens to generate at most.")
    var maxTokens = 256

    @Flag(help: "Always take the most likely token.")
    var greedy = false

    func run() throws {
        do {
            let engine = try Engine(model: routing.model, registry: AdapterRegistry(folder: routing.registry), threads: routing.threads)
            let options = GenerationOptions(maxTokens: maxTokens, sampler: greedy ? .greedy : SamplerSettings())
            let chat = try RoutedChat(engine: engine, router: routing.makeRouter(engine: engine), options: options)
            let (_, statistics) = try chat.respond(to: question, onDecision: announce, onText: { FileHandle.standardOutput.write(Data($0.utf8)) })
            FileHandle.standardOutput.write(Data("\n".utf8))
            printStatistics(statistics)
        } catch {
            throw fail(error)
        }
    }
}

/// One line of JSON with sorted keys.
func encodeJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
