// route: the Router layer on the default model: fit an embedding router from a routes file (the
// base model's own embeddings of each example, computed once), then route a few questions and
// say why.
//
//   swift run -c release route [ROUTES.json] [QUESTION ...]
//
// ROUTES defaults to Data/routing/routes.json (run from the repository's root).
import Foundation
import LocoLLM

let arguments = Array(CommandLine.arguments.dropFirst())
let routesPath = arguments.first ?? "Data/routing/routes.json"
let questions = arguments.count > 1 ? Array(arguments.dropFirst())
    : ["What is 15% of 240?", "Why does my Python loop never stop?", "Compare the pros and cons of trains and planes.",
       "Tell me a story about a brave mouse."]

do {
    let engine = try Engine()                                       // the default model
    let routes = try Routes(contentsOf: routesPath)
    let router = try FittedRouter(routes, method: .logistic, engine: engine)
    for question in questions {
        let decision = try router.route(question)
        print("\(question)\n  -> \(decision.route ?? "base model") (\(Int((decision.confidence * 100).rounded()))%): \(decision.reason)")
    }
} catch {
    FileHandle.standardError.write(Data("route: \(error)\n".utf8))
    exit(1)
}
