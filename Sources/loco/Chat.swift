import ArgumentParser
import Foundation
import LocoLLM

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model in the terminal, using its chat template.",
        discussion: """
            Type a message and press return. Commands: /help, /clear (forget the conversation), \
            /stats (timings of the last reply), /adapter NAME|PATH|none (switch LoRA adapters), /quit. Earlier turns stay in the KV cache: each \
            reply only runs the new tokens.
            """
    )

    @OptionGroup var generation: GenerationArguments

    static let help = """
        /help   this help
        /clear  forget the conversation (keeps the system message)
        /stats  timings of the last reply
        /adapter NAME|PATH [SCALE]  apply a LoRA adapter (registry name, GGUF file or PEFT folder) instead
        /adapter none               back to the bare base model
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
                case _ where input == "/adapter" || input.hasPrefix("/adapter "):
                    let words = input.split(separator: " ").map(String.init)
                    guard words.count >= 2, words.count <= 3, words.count == 2 || Float(words[2]) != nil else {
                        print("usage: /adapter NAME|PATH [SCALE] or /adapter none")
                        continue
                    }
                    let session = generator.session
                    do {
                        if words[1] == "none" {
                            session.adapters = nil
                        } else {
                            let adapter = try LoRAAdapter(contentsOf: AdapterRegistry().resolve(words[1]))
                            session.adapters = try AdapterSet(model: session.model, adapters: [(adapter, words.count == 3 ? Float(words[2])! : 1)])
                        }
                        // The cached positions were computed with the previous adapters.
                        generator.reset()
                        print(session.adapters == nil ? "(no adapter)" : "(adapter \(words[1]))")
                    } catch {
                        print("cannot use \(words[1]): \(error)")
                    }
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
