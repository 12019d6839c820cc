import Foundation
import Inference
import LocoSupport
import LocoTestSupport
import Testing
import Training

/// What `loco train` used to do itself and the SDK does now: the `--targets` aliases, sniffing a
/// data file's form and splitting it, the summary JSON, and the gradient check's batch file.
@Suite struct TrainingDataTests {
    static func file(_ name: String, _ text: String) throws -> String {
        let path = RandomModels.scratch(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func targetAliases() throws {
        let attention = ["attn_q", "attn_k", "attn_v", "attn_output"], mlp = ["ffn_gate", "ffn_up", "ffn_down"]
        #expect(try TrainingConfiguration.targets(parsing: "q,k,v,o") == attention)
        #expect(try TrainingConfiguration.targets(parsing: "attention") == attention)
        #expect(try TrainingConfiguration.targets(parsing: "mlp") == mlp)
        #expect(try TrainingConfiguration.targets(parsing: "all") == attention + mlp)
        #expect(try TrainingConfiguration.targets(parsing: " gate_proj , q_proj,down ") == ["ffn_gate", "attn_q", "ffn_down"])
        // First-seen order, no repeats; GGUF names pass as they are.
        #expect(try TrainingConfiguration.targets(parsing: "v,attention,attn_v,up") == ["attn_v", "attn_q", "attn_k", "attn_output", "ffn_up"])
        for empty in ["", ",", " , ,"] {
            #expect(throws: TrainingError.invalidOption("the target list names no projection")) {
                try TrainingConfiguration.targets(parsing: empty)
            }
        }
        // An unknown name passes through; the configuration refuses it.
        var configuration = TrainingConfiguration()
        configuration.targets = try TrainingConfiguration.targets(parsing: "q,query")
        #expect(configuration.targets == ["attn_q", "query"])
        #expect(throws: TrainingError.self) { try configuration.validate() }
    }

    @Test func sniffsTheForm() throws {
        let tokens = try Self.file("tokens.jsonl", "\n  \n{\"tokens\": [1, 2, 3]}\n")
        let chat = try Self.file("chat.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n")
        let both = try Self.file("both.jsonl", "{\"tokens\": [1, 2], \"messages\": []}\n")
        let broken = try Self.file("broken.jsonl", "{\"tokens\": [1, 2\n")
        #expect(TrainingData.format(of: tokens) == .tokens)
        #expect(TrainingData.format(of: chat) == .chat)
        #expect(TrainingData.format(of: both) == .chat)
        #expect(TrainingData.format(of: broken) == .chat)
        #expect(TrainingData.format(of: RandomModels.scratch("missing.jsonl")) == .chat)
    }

    @Test func readsAndSplitsTokenData() throws {
        let model = try Model(contentsOf: TinyModel().write())
        let lines = (0..<10).map { i in "{\"tokens\": [\(i), \(i + 1), \(i + 2), \(i + 3)]}" }
        let path = try Self.file("tokens.jsonl", lines.joined(separator: "\n") + "\n")
        let data = try TrainingData(contentsOf: path, model: model, maxSequenceLength: 3, validationFraction: 0.2, seed: 5)
        #expect(data.format == .tokens)
        #expect(data.name == URL(fileURLWithPath: path).lastPathComponent)
        #expect(data.sha256 == ContentHash.sha256(Array(try Data(contentsOf: URL(fileURLWithPath: path)))))
        #expect(data.truncatedCount == 10)
        #expect(data.training.count == 8 && data.validation.count == 2)
        #expect(data.trainingTokens == 24)
        // The split is TrainingSequence.split's, and the examples carry the same tokens and masks.
        let all = try TokenDataset(contentsOf: path, vocabularySize: model.vocabularySize, maxSequenceLength: 3).sequences
        let split = TrainingSequence.split(all, validationFraction: 0.2, seed: 5)
        #expect(data.training == split.train && data.validation == split.validation)
        #expect(data.trainingExamples.map(\.tokens) == data.training.map(\.tokens))
        #expect(data.validationExamples.map(\.trained) == data.validation.map(\.trained))
    }

    @Test func badDataNamesFileAndLine() throws {
        let model = try Model(contentsOf: TinyModel().write())
        // Token data: an id beyond the tiny model's 40-token vocabulary, on line 2.
        let path = try Self.file("tokens.jsonl", "{\"tokens\": [1, 2]}\n{\"tokens\": [1, 40]}\n")
        do {
            _ = try TrainingData(contentsOf: path, model: model, maxSequenceLength: 8, validationFraction: 0, seed: 0)
            Issue.record("an id beyond the vocabulary was accepted")
        } catch let error as TrainingDataError {
            #expect(error.path == path && error.line == 2, "\(error)")
        }
        // Chat data needs a chat template and a tokenizer: the tiny model has neither.
        let chat = try Self.file("chat.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n")
        #expect(throws: (any Error).self) {
            try TrainingData(contentsOf: chat, model: model, maxSequenceLength: 8, validationFraction: 0, seed: 0)
        }
    }

    @Test func summaryJSONEscapesAndKeepsKeys() throws {
        let out = "runs/\"quoted\" \\ folder\nnext"
        let summary = TrainingSummary(steps: 3, finalLoss: 2.5, validationLoss: nil, tokensPerSecond: 100.25, seconds: 1.5,
                                      peakRSSBytes: 1 << 30, threads: 2, batch: 4, maxSequenceLength: 64, rank: 8,
                                      targets: ["attn_q", "attn_v"], trainingExamples: 12, out: out)
        let text = try summary.jsonText()
        #expect(!text.contains("\n"), "one line: \(text)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["steps", "final_loss", "validation_loss", "tokens_per_second", "seconds", "peak_rss_bytes",
                                     "threads", "batch", "max_seq_len", "rank", "targets", "training_examples", "out"])
        #expect(object["out"] as? String == out)
        #expect(object["validation_loss"] is NSNull)
        #expect(object["targets"] as? [String] == ["attn_q", "attn_v"])
        #expect((object["steps"] as? NSNumber)?.intValue == 3 && (object["max_seq_len"] as? NSNumber)?.intValue == 64)
        #expect((object["final_loss"] as? NSNumber)?.doubleValue == 2.5)
        #expect((object["peak_rss_bytes"] as? NSNumber)?.intValue == 1 << 30)
        // JSON has no NaN: a loss that diverged is null, not invalid JSON.
        var diverged = summary
        diverged.finalLoss = .nan
        let parsed = try JSONParser.parse(Array(try diverged.jsonText().utf8))
        guard case .object(let members) = parsed else { Issue.record("not an object"); return }
        #expect(members["final_loss"] == .null)
    }

    @Test func gradientBatchFile() throws {
        let examples = try GradientCheck.examples(batchJSON: Array("{\"tokens\": [[1, 2, 3]], \"trained\": [[0, 1, 1]]}".utf8),
                                                  source: "batch.json")
        #expect(examples == [TrainingGraph.Example(tokens: [1, 2, 3], trained: [false, true, true])])
        for bad in ["{\"tokens\": [[1, 2]]}", "{\"tokens\": [[1]], \"trained\": []}", "[1]", "{\"tokens\": [[-1]], \"trained\": [[0]]}", "{"] {
            #expect(throws: TrainingError.self) { try GradientCheck.examples(batchJSON: Array(bad.utf8), source: "batch.json") }
        }
    }
}
