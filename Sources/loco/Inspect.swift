import ArgumentParser
import LocoLLM

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a GGUF file's metadata, tensors, totals by type and the memory a run needs.",
        discussion: "On a malformed file, prints the error to standard error and exits with status 1."
    )

    @Argument(help: "The GGUF file, or a model name in the model store. Default: the default model.")
    var model: String?

    @Flag(help: "Print the whole structure as JSON.")
    var json = false

    @Option(help: "Context length for the memory estimate (default: the model's, at most 4096).")
    var context: Int?

    func run() throws {
        do {
            let path = try ModelStore().resolve(model)
            let file = try GGUFFile(contentsOf: path)
            let report = ModelReport(file: file, contextLength: context)
            print(json ? try report.renderJSON() : report.renderText())
        } catch {
            throw fail(error)
        }
    }
}
