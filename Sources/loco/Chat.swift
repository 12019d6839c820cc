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

    @Option(help: "With --adapter auto: sticky (route the first message, keep its adapter) or per-turn (route every message).")
    var routing: String = RoutingPolicy.sticky.rawValue

    func validate() throws {
        guard RoutingPolicy(rawValue: routing) != nil else { throw ValidationError("--routing must be sticky or per-turn") }
    }

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
            let engine = try generation.makeEngine()
            let routed = generation.adapters.isAuto
                ? try RoutedChat(engine: engine, router: engine.automaticRouter(), policy: RoutingPolicy(rawValue: routing)!,
                                 systemMessage: generation.system, options: generation.options)
                : nil
            let chat = try routed?.chat ?? ChatSession(engine: engine, systemMessage: generation.system,
                                                      adapters: engine.adapters(generation.adapters.specs), options: generation.options)
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
                    if let routed { routed.clear() } else { chat.clear() }
                    print("(conversation cleared)")
                    continue
                case "/stats":
                    if let last = chat.lastStatistics { printStatistics(last) } else { print("(no reply yet)") }
                    continue
                case _ where input == "/adapter" || input.hasPrefix("/adapter "):
                    let words = input.split(separator: " ").map(String.init)
                    guard words.count >= 2, words.count <= 3, words.count == 2 || Float(words[2]) != nil else {
                        print("usage: /adapter NAME|PATH [SCALE] or /adapter none")
                        continue
                    }
                    guard routed == nil else {
                        print("(the router picks the adapter in this chat; start without --adapter auto to choose by hand)")
                        continue
                    }
                    do {
                        let none = words[1] == "none"
                        try chat.setAdapter(none ? nil : words[1], scale: words.count == 3 ? Float(words[2])! : 1)
                        print(none ? "(no adapter)" : "(adapter \(words[1]))")
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
                let write = { (text: String) in FileHandle.standardOutput.write(Data(text.utf8)) }
                let statistics = try routed.map { try $0.respond(to: input, onDecision: announce, onText: write).statistics }
                    ?? chat.respond(to: input, onText: write)
                print("")
                if statistics.stopReason == .contextFull {
                    print("(the context is full: /clear to start again)")
                }
            }
        } catch {
            throw fail(error)
        }
    }
}
