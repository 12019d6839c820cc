// generate: the Inference and LoRA layers on one model: answer a question through the model's chat
// template, then again with a LoRA adapter switched onto the same session (the base is shared and
// never reloaded), and print the question's embedding size (what a router compares).
//
//   swift run -c release generate [MODEL] [ADAPTER] [QUESTION]
//
// MODEL defaults to the default model; ADAPTER (a GGUF LoRA file or PEFT folder) to none.
import Foundation
import LocoLLM

let arguments = Array(CommandLine.arguments.dropFirst())
let question = arguments.count > 2 ? arguments[2] : "What is 12 times 7?"

do {
    let path = try ModelStore().resolve(arguments.first)
    let model = try Model(contentsOf: path)                  // shared, immutable
    let tokenizer = try Tokenizer(gguf: model.file)
    let template = try ChatTemplate(gguf: model.file)
    let text = try template.render(messages: [.user(question)])
    let prompt = tokenizer.encode(text, addSpecial: !template.includesBOS, parseSpecial: true)

    let session = model.makeSession()
    let generator = Generator(session: session, tokenizer: tokenizer)
    let options = GenerationOptions(maxTokens: 48, sampler: .greedy)
    print("base: ", terminator: "")
    let statistics = try generator.generate(prompt: prompt, options: options) { print($0, terminator: "") }
    print("\n(\(statistics.generatedTokens) tokens, \(Int(statistics.decodeTokensPerSecond)) tok/s)")

    if arguments.count > 1, arguments[1] != "none" {
        // A pointer swap on the session; the cached positions were made without the adapter.
        session.adapters = try AdapterSet(model: model, adapters: [(try LoRAAdapter(contentsOf: arguments[1]), 1)])
        generator.reset()
        print("with \(arguments[1]): ", terminator: "")
        _ = try generator.generate(prompt: prompt, options: options) { print($0, terminator: "") }
        print("")
    }

    let vector = try model.makeSession().embedding(tokens: prompt, normalized: true)
    print("embedding: \(vector.count) values, first \(vector.prefix(3).map { String(format: "%.4f", $0) })")
} catch {
    FileHandle.standardError.write(Data("generate: \(error)\n".utf8))
    exit(1)
}
