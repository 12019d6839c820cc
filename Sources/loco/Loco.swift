import ArgumentParser
import Foundation
import LocoLLM

@main
struct Loco: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loco",
        abstract: "Run, inspect and measure small quantized language models.",
        subcommands: [Inspect.self, Quantize.self, LogitsCommand.self, Embed.self, Bench.self, Tokenize.self, Run.self, Chat.self, Merge.self, Adapters.self, Train.self, TrainGradients.self, DataCommand.self, EvalCommand.self, Select.self, Route.self, Ask.self, Serve.self, SlurmCommand.self]
    )

    /// Refuses an unknown LOCO_CPU_FEATURES before any command runs (the kernels would otherwise
    /// fall back to scalar code without a word).
    static func main() {
        do {
            try KernelSet.validateEnvironment()
        } catch {
            FileHandle.standardError.write(Data("loco: \(error)\n".utf8))
            Foundation.exit(2)
        }
        main(nil)
    }
}

/// Prints `error` to standard error and exits with status 1.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("loco: \(error)\n".utf8))
    return ExitCode(1)
}

/// Prints `message` to standard error and exits with status 1.
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("loco: \(message)\n".utf8))
    return ExitCode(1)
}

/// The help of every command's `--chat-template`.
let chatTemplateHelp = "A chat template family to use instead of the model file's own (for a base model whose file has none): "
    + ChatTemplate.familyNames.joined(separator: ", ") + "."
