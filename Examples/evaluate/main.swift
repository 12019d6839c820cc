// evaluate: the Evaluation layer through the SDK: score a suite on the default model, then, given
// an adapter, compare base and adapter on that suite and the team's general suite (the
// out-of-domain check: the adapter must not fall more than 5 points below the base elsewhere).
//
//   swift run -c release evaluate [SUITE] [ADAPTER]
//
// SUITE defaults to Data/eval/math-handwritten.jsonl (run from the repository's root); ADAPTER
// (a registry name, GGUF LoRA file or PEFT folder) to none, which scores the base alone.
import Foundation
import LocoLLM

let arguments = Array(CommandLine.arguments.dropFirst())
let suitePath = arguments.first ?? "Data/eval/math-handwritten.jsonl"
let options = EvaluationOptions(maxTokens: 160, batch: 16)   // 16 replies decoded together

func bar(_ label: String, _ done: Int, _ total: Int) {
    FileHandle.standardError.write(Data("\r\(label) \(done)/\(total)\(done == total ? "\n" : "")".utf8))
}

do {
    let engine = try Engine()                                    // the default model
    let suite = try EvaluationSuite(contentsOf: suitePath)      // a bad line: its number, nothing scored
    if arguments.count < 2 {
        let report = try engine.evaluate(suite, options: options) { bar(suite.name, $0, $1) }
        print(String(format: "%@ on the base: %.1f%% (%d/%d), %.2f items/s", suite.name, 100 * report.score,
                     report.correct, report.total, report.itemsPerSecond))
        for item in report.items.prefix(3) {
            if case .text(let reply) = item.prediction {
                print("  \(item.id) \(item.correct ? "right" : "wrong"): \(reply.prefix(100).replacingOccurrences(of: "\n", with: " "))")
            }
        }
    } else {
        let general = try EvaluationSuite(contentsOf: "Data/eval/general-mc.jsonl")
        let comparison = try engine.compare([suite, general], settings: [.adapters([arguments[1]])], options: options) {
            bar("\($0) \($1)", $2, $3)
        }
        print(comparison.markdown(), terminator: "")
    }
} catch {
    FileHandle.standardError.write(Data("evaluate: \(error)\n".utf8))
    exit(1)
}
