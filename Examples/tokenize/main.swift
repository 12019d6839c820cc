// tokenize: the Tokenization layer on one model file: encode a text, show each token's piece,
// decode it back at once and token by token, then render a chat with the model's own template and
// count its tokens.
//
//   swift run tokenize [MODEL] [TEXT]
//
// MODEL defaults to the default model; TEXT to a sentence with an emoji and a special token.
import Foundation
import LocoLLM

let arguments = Array(CommandLine.arguments.dropFirst())
let text = arguments.count > 1 ? arguments[1] : "Hello, world! 👋 <|im_end|>"

do {
    let file = try GGUFFile(contentsOf: try ModelStore().resolve(arguments.first))
    let tokenizer = try Tokenizer(gguf: file)
    print("model: \(tokenizer.model), \(tokenizer.vocabularySize) tokens")

    let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
    print("\(text.debugDescription) -> \(ids.count) tokens")
    for id in ids {
        // A piece can be part of a character (an emoji is several byte-level tokens): show its bytes.
        let bytes = tokenizer.piece(id)
        let piece = String(bytes: bytes, encoding: .utf8)?.debugDescription ?? bytes.map { String(format: "<%02X>", $0) }.joined()
        print("  \(id)\t\(piece)")
    }
    print("decoded: \(tokenizer.decode(ids, renderSpecial: true).debugDescription)")
    var stream = StreamingDetokenizer(tokenizer: tokenizer, renderSpecial: true)
    print("streamed: \(ids.map { stream.append($0) } + [stream.finish()])")

    let template = try ChatTemplate(gguf: file)
    let messages: [ChatMessage] = [.system("You are terse."), .user("What is a token?")]
    let prompt = try template.render(messages: messages)
    let promptIDs = try tokenizer.encode(messages: messages, template: template)
    print("chat template: \(template.family)")
    print(prompt, terminator: "")
    print("(\(promptIDs.count) tokens)")
} catch {
    FileHandle.standardError.write(Data("tokenize: \(error)\n".utf8))
    exit(1)
}
