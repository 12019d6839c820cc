import ArgumentParser
import Foundation
import LocoLLM

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model in the terminal, using its chat template.",
        discussion: """
            Type a message and press return. Commands: /help, /clear (forget the conversation), \
            /stats (timings of the last reply), /quit. Earlier turns stay in the KV cache: each \
            reply only runs the new tokens.
            """
    )

    @OptionGroup var generation: GenerationArguments

    static let help = """
        /help   this help
        /clear  forget the conversation (keeps the system message)
        /stats  timings of the last reply
        /quit   leave (also end of input)
        """

    func run() throws {
        do {
            let (generator, template) = try generation.load()
            guard let template else { throw ValidationError("the model has no chat template LocoLLM recognizes") }
            var messages: [ChatMessage] = []
            if let system = generation.system { messages.append(ChatMessage(role: .system, content: system)) }
            var last: GenerationStatistics?
            FileHandle.standardError.write(Data("loco chat: /help for commands, /quit to leave\n".utf8))
            while true {
                FileHandle.standardError.write(Data("> ".utf8))
                guard let line = readLine(strippingNewline: true) else { break }
                let input = line.trimmingCharacters(in: .whitespaces)
                if input.isEmpty { continue }
                switch input {
                case "/quit", "/exit": return
                case "/help":
                    print(Chat.help)
                    continue
                case "/clear":
                    messages.removeAll { $0.role != .system }
                    generator.reset()
                    print("(conversation cleared)")
                    continue
                case "/stats":
                    if let last { printStatistics(last) } else { print("(no reply yet)") }
                    continue
                default:
                    if input.hasPrefix("/") {
                        print("unknown command \(input); /help lists them")
                        continue
                    }
                }
                messages.append(ChatMessage(role: .user, content: input))
                let text = try template.render(messages: messages, addGenerationPrompt: true)
                let tokens = generator.tokenizer.encode(text, addSpecial: !template.includesBOS, parseSpecial: true)
                var reply = ""
                let statistics = try generator.generate(prompt: tokens, options: generation.options) { piece in
                    reply += piece
                    FileHandle.standardOutput.write(Data(piece.utf8))
                }
                print("")
                messages.append(ChatMessage(role: .assistant, content: reply))
                last = statistics
                if statistics.stopReason == .contextFull {
                    print("(the context is full: /clear to start again)")
                }
            }
        } catch let error as ValidationError {
            throw fail(error.message)
        } catch {
            throw fail(error)
        }
    }
}
