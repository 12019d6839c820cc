import ArgumentParser
import Foundation
import LocoLLM

/// `loco data math`: writes the generated math word problems as chat JSONL.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Write training and test data sets.",
        subcommands: [Math.self]
    )

    struct Math: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write generated arithmetic word problems as chat JSONL: DIR/train.jsonl and DIR/test.jsonl.",
            discussion: """
                Two- and three-step problems with exact integer answers and worked solutions ending \
                "The answer is N.", one conversation (user question, assistant solution) per line. \
                Test lines also carry "answer": N. No test question occurs in the training set. The same \
                seed writes the same files. Both files are written atomically.
                """
        )

        @Option(help: "The folder to write to (created if missing).")
        var out: String

        @Option(help: "Training problems.")
        var train = 2000

        @Option(help: "Test problems.")
        var test = 200

        @Option(help: "Random seed.")
        var seed: UInt64 = 1

        func validate() throws {
            guard train >= 0, test >= 0 else { throw ValidationError("--train and --test must not be negative") }
        }

        func run() throws {
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                let (trainSet, testSet) = MathWordProblems.trainAndTest(trainCount: train, testCount: test, seed: seed)
                let trainPath = out + "/train.jsonl", testPath = out + "/test.jsonl"
                try write(trainSet.map { $0.chatJSONLine() }, to: trainPath)
                try write(testSet.map { $0.chatJSONLine(includeAnswer: true) }, to: testPath)
                print("wrote \(trainSet.count) training problems to \(trainPath)")
                print("wrote \(testSet.count) test problems to \(testPath)")
            } catch {
                throw fail(error)
            }
        }

        /// One line each, written to a temporary file in the same folder and renamed into place.
        private func write(_ lines: [String], to path: String) throws {
            let text = lines.map { $0 + "\n" }.joined()
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }
}
