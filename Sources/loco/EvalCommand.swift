import ArgumentParser
import Foundation
import LocoLLM

/// `loco eval math`: exact-match accuracy on math word problems.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a model (with or without adapters) on an evaluation set.",
        subcommands: [Math.self]
    )

    struct Math: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exact-match accuracy on arithmetic word problems, answered greedily.",
            discussion: """
                Each question is the only user turn in the model's chat template; the reply (greedy, at most \
                --max-tokens tokens) is scored by the number after its last "The answer is", else its last \
                integer. The problems come from --data (a test.jsonl written by `loco data math`) or are \
                generated with --count and --seed; `--seed S --count N` gives the test set of \
                `loco data math --seed S --test N`.
                """
        )

        @Option(help: "The GGUF model, or a name in the model store. Default: the default model.")
        var model: String?

        @OptionGroup var adapters: AdapterArguments

        @Option(help: "Chat JSONL with the problems (test.jsonl from `loco data math`).")
        var data: String?

        @Option(help: "Problems to generate when --data is not given.")
        var count = 200

        @Option(help: "Seed of the generated problems when --data is not given.")
        var seed: UInt64 = 99

        @Option(help: "Tokens to generate at most per problem.")
        var maxTokens = 128

        @Flag(help: "Print one JSON object: accuracy, correct, total, model, adapters, generated_tokens, seconds.")
        var json = false

        @Option(help: "Print the first N problems with the model's replies (to standard error with --json).")
        var show = 0

        func validate() throws {
            try adapters.refuseAuto("eval")
            guard count >= 1 else { throw ValidationError("--count must be at least 1") }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        }

        func run() throws {
            do {
                let problems: [MathProblem]
                if let data {
                    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: data)))
                    problems = try MathWordProblems.problems(jsonl: bytes, source: data)
                    guard !problems.isEmpty else { throw ValidationError("\(data) holds no problems") }
                } else {
                    problems = MathWordProblems.generate(count: count, seed: seed)
                }
                let engine = try Engine(model: model)
                let evaluation = MathEvaluation(model: engine.model, tokenizer: engine.tokenizer, template: try engine.chatTemplate(),
                                                adapters: try engine.adapters(adapters.specs), maxTokens: maxTokens,
                                                contextLength: 1024 + maxTokens)
                let result = try evaluation.run(problems) { index, item in
                    guard index < show else { return }
                    let text = """
                        [\(index + 1)] \(item.question)
                        \(item.output.trimmingCharacters(in: .whitespacesAndNewlines))
                        expected \(item.expected), extracted \(item.extracted.map(String.init) ?? "none"): \(item.correct ? "correct" : "wrong")

                        """
                    if json { FileHandle.standardError.write(Data(text.utf8)) } else { print(text) }
                }
                if json {
                    let report = MathEvaluation.Report(result: result, model: engine.modelPath, adapters: adapters.paths)
                    print(try report.jsonText())
                } else {
                    print("exact match: \(result.correct)/\(result.total) = \(ByteFormat.fixed(100 * result.accuracy, 1))%")
                    print("generated \(result.generatedTokens) tokens in \(ByteFormat.fixed(result.seconds, 1)) s "
                          + "(\(ByteFormat.fixed(result.tokensPerSecond, 1)) tokens/s)")
                }
            } catch let error as ValidationError {
                throw fail(error.message)
            } catch {
                throw fail(error)
            }
        }
    }
}
