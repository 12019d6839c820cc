// generate: the SDK's front door on one model: an Engine loads the base once, a ChatSession
// answers a question through the model's chat template, then again with a LoRA adapter switched
// onto the same session (a pointer swap: the base is shared and never reloaded), and the engine
// gives the question's embedding (what a router compares).
//
//   swift run -c release generate [MODEL] [ADAPTER] [QUESTION]
//
// MODEL defaults to the default model; ADAPTER (a registry name, GGUF LoRA file or PEFT folder)
// to none.
import Foundation
import LocoLLM

let arguments = Array(CommandLine.arguments.dropFirst())
let question = arguments.count > 2 ? arguments[2] : "What is the capital of France?"

do {
    let engine = try Engine(model: arguments.first)
    let chat = try ChatSession(engine: engine, options: GenerationOptions(maxTokens: 48, sampler: .greedy))
    print("base: ", terminator: "")
    let statistics = try chat.respond(to: question) { print($0, terminator: "") }
    print("\n(\(statistics.generatedTokens) tokens, \(Int(statistics.decodeTokensPerSecond)) tok/s)")

    if arguments.count > 1, arguments[1] != "none" {
        chat.clear()
        try chat.setAdapter(arguments[1], scale: 1)
        print("with \(arguments[1]): ", terminator: "")
        try chat.respond(to: question) { print($0, terminator: "") }
        print("")
    }

    let vector = try engine.embedding(of: question, normalized: true)
    print("embedding: \(vector.count) values, first \(vector.prefix(3).map { String(format: "%.4f", $0) })")
} catch {
    FileHandle.standardError.write(Data("generate: \(error)\n".utf8))
    exit(1)
}
