import ArgumentParser
import Foundation
import LocoLLM

/// `loco data math`: writes the generated math word problems as chat JSONL.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Write training and test data sets.",
        subcommands: [Math.self, TokenizeChats.self]
    )

    struct Math: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write generated arithmetic word problems as chat JSONL: DIR/train.jsonl and DIR/test.jsonl, and the test problems as a suite, DIR/suite.jsonl.",
            discussion: """
                Two- and three-step problems with exact integer answers and worked solutions ending \
                "The answer is N.", one conversation (user question, assistant solution) per line. \
                Test lines also carry "answer": N. No test question occurs in the training set. The same \
                seed writes the same files. suite.jsonl holds the test problems as numeric items for \
                `loco eval run` and `loco eval compare`. Every file is written atomically.
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
                try MathWordProblems.writeChatJSONL(trainSet, to: trainPath)
                try MathWordProblems.writeChatJSONL(testSet, to: testPath, includeAnswer: true)
                print("wrote \(trainSet.count) training problems to \(trainPath)")
                try MathWordProblems.writeSuite(testSet, to: out + "/suite.jsonl")
                print("wrote \(testSet.count) test problems to \(testPath), and as a suite to \(out)/suite.jsonl")
            } catch {
                throw fail(error)
            }
        }
    }

    /// `loco data tokenize`: chat JSONL to the pre-tokenized form `loco train` and the PyTorch
    /// peer read, with the loss mask `loco train` uses.
    struct TokenizeChats: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tokenize",
            abstract: "Render and tokenize chat JSONL with a model's template: {\"tokens\": [...], \"trained\": [0|1, ...]} per line.",
            discussion: "trained marks the assistant tokens, as loco train's loss counts them. For inspecting masks and for other trainers.")

        @Option(help: "The GGUF model whose template and tokenizer to use, or a name in the model store.")
        var model: String?

        @Option(help: ArgumentHelp(chatTemplateHelp, valueName: "name"))
        var chatTemplate: String?

        @Option(help: "Chat JSONL.")
        var data: String

        @Option(help: "Output JSONL.")
        var out: String

        @Option(help: "Cut longer conversations to this many tokens.")
        var maxSeqLen = 512

        func run() throws {
            do {
                let file = try GGUFFile(contentsOf: try ModelStore().resolve(model))
                let dataset = try ChatDataset(contentsOf: data, template: try chatTemplate.map { try ChatTemplate(named: $0, gguf: file) } ?? ChatTemplate(gguf: file), tokenizer: try Tokenizer(gguf: file),
                                              maxSequenceLength: maxSeqLen)
                try TokenDataset.write(dataset.sequences, to: out)
                let tokens = dataset.sequences.reduce(0) { $0 + $1.tokens.count }
                let trained = dataset.sequences.reduce(0) { $0 + $1.trainedCount }
                print("wrote \(dataset.sequences.count) sequences, \(tokens) tokens (\(trained) trained) to \(out)")
            } catch {
                throw fail(error)
            }
        }
    }
}
