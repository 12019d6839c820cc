import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// Sharded runs (`--shard I/N`) merged with `loco eval merge` against the unsharded run, for
/// `eval run`, `eval sweep` and `select`, with N = 1, 2, 3 and 7, through the release build on
/// the default model. Equal means equal bytes once the timings are taken out (seconds, speeds,
/// memory, energy, and a selection's ranks, which break ties by decode speed).
@Suite(.serialized) struct ReleaseShardTests {
    static let counts = [1, 2, 3, 7]

    /// Timings: what may differ between any two runs of the same work.
    static let timingKeys: Set<String> = [
        "seconds", "scored_now", "items_per_second", "prefill_tokens_per_second", "decode_tokens_per_second", "peak_rss_bytes",
        "energy", "joules_per_token", "time_to_first_token_seconds", "chat_rss_drift_bytes", "rank", "reason", "cpu_seconds",
    ]

    /// The JSON at `path` with the timing keys removed at every depth, as sorted-key bytes.
    static func untimed(_ path: String) throws -> Data {
        func strip(_ value: Any) -> Any {
            if let object = value as? [String: Any] {
                return object.filter { !timingKeys.contains($0.key) }.mapValues(strip)
            }
            if let array = value as? [Any] { return array.map(strip) }
            return value
        }
        let value = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        return try JSONSerialization.data(withJSONObject: strip(value), options: [.sortedKeys])
    }

    static func shardAndMerge(_ arguments: [String], count: Int, dir: String) throws -> String {
        var folders: [String] = []
        for index in 0..<count {
            let folder = "\(dir)/n\(count)/shard\(index)"
            let done = try run(ReleaseSuiteTests.releaseLoco, arguments + ["--out", folder, "--shard", "\(index)/\(count)"])
            try #require(done.status == 0, "shard \(index)/\(count): \(done.stderr)")
            folders.append(folder)
        }
        let merged = "\(dir)/n\(count)/merged"
        // Given in reverse: the order of the folders does not matter.
        let result = try run(ReleaseSuiteTests.releaseLoco, ["eval", "merge"] + folders.reversed() + ["--out", merged, "--json"])
        try #require(result.status == 0, "merge of \(count): \(result.stderr)")
        return merged
    }

    /// The first `items` of the team's multiple-choice set, as `dir/mc.jsonl`.
    static func multipleChoice(_ dir: String, items: Int) throws -> String {
        let mc = dir + "/mc.jsonl"
        let lines = try String(contentsOfFile: Repository.path("Data/eval/general-mc.jsonl"), encoding: .utf8).split(separator: "\n")
        try (lines.prefix(items).joined(separator: "\n") + "\n").write(toFile: mc, atomically: true, encoding: .utf8)
        return mc
    }

    static func mixedSuite(_ dir: String) throws -> String {
        let suite = dir + "/suite.jsonl"
        let lines = try String(contentsOfFile: Repository.path("Data/eval/general-mc.jsonl"), encoding: .utf8).split(separator: "\n")
        var text = lines.prefix(6).joined(separator: "\n") + "\n"
        let questions = ["What is 6 times 7?", "What is 100 minus 58?", "Name the capital of Italy.", "What is 9 plus 10?", "What color is grass?"]
        for (i, question) in questions.enumerated() {
            text += i % 2 == 0
                ? "{\"id\": \"g\(i)\", \"prompt\": \"\(question)\", \"type\": \"numeric\", \"answer\": 42}\n"
                : "{\"id\": \"g\(i)\", \"prompt\": \"\(question)\", \"type\": \"contains\", \"answer\": \"e\"}\n"
        }
        try text.write(toFile: suite, atomically: true, encoding: .utf8)
        return suite
    }

    /// `eval run`: 6 multiple-choice items and 5 generation items in batches of 2 (9 units);
    /// each merge gives the unsharded results.json (less timings) and the same report.md, and
    /// the merged folder is a finished run (the same command there scores nothing). SLURM's
    /// array variables stand in for --shard.
    @Test func suiteRunShardsMergeToTheUnshardedRun() throws {
        guard ReleaseSuiteTests.available, let model = Peers.defaultModel else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let suite = try Self.mixedSuite(dir)
        let arguments = ["eval", "run", "--suite", suite, "--model", model, "--max-tokens", "12", "--batch", "2"]
        let whole = try run(ReleaseSuiteTests.releaseLoco, arguments + ["--out", dir + "/whole", "--json"])
        try #require(whole.status == 0, "\(whole.stderr)")
        for count in Self.counts {
            let merged = try Self.shardAndMerge(arguments, count: count, dir: dir)
            #expect(try Self.untimed(merged + "/results.json") == Self.untimed(dir + "/whole/results.json"), "N = \(count)")
            #expect(try String(contentsOfFile: merged + "/report.md", encoding: .utf8)
                    == String(contentsOfFile: dir + "/whole/report.md", encoding: .utf8), "N = \(count)")
            let again = try run(ReleaseSuiteTests.releaseLoco, arguments + ["--out", merged, "--json"])
            try #require(again.status == 0, "\(again.stderr)")
            let report = try JSONSerialization.jsonObject(with: again.stdout) as! [String: Any]
            #expect(report["scored_now"] as? Int == 0, "N = \(count)")
        }
        // SLURM_ARRAY_TASK_ID/COUNT in place of --shard give the same shard.
        let slurm = try run(ReleaseSuiteTests.releaseLoco, arguments + ["--out", dir + "/slurm1"],
                            environment: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"])
        try #require(slurm.status == 0, "\(slurm.stderr)")
        #expect(try Self.untimed(dir + "/slurm1/results.json") == Self.untimed(dir + "/n3/shard1/results.json"))

        // Shards that do not make one run are refused, naming what is wrong.
        let missing = try run(ReleaseSuiteTests.releaseLoco, ["eval", "merge", dir + "/n3/shard0", dir + "/n3/shard2", "--out", dir + "/bad"])
        #expect(missing.status == 1 && missing.stderr.contains("shard 1/3 is missing"), "\(missing.stderr)")
        let mixed = try run(ReleaseSuiteTests.releaseLoco, ["eval", "merge", dir + "/n2/shard0", dir + "/n3/shard1", "--out", dir + "/bad"])
        #expect(mixed.status == 1 && mixed.stderr.contains("another run"), "\(mixed.stderr)")
        let twice = try run(ReleaseSuiteTests.releaseLoco, ["eval", "merge", dir + "/n2/shard0", dir + "/n2/shard0", "--out", dir + "/bad"])
        #expect(twice.status == 1 && twice.stderr.contains("are both shard 0/2"), "\(twice.stderr)")
        let plain = try run(ReleaseSuiteTests.releaseLoco, ["eval", "merge", dir + "/whole", "--out", dir + "/bad"])
        #expect(plain.status == 1 && plain.stderr.contains("not the folder of a sharded run"), "\(plain.stderr)")
        let wrong = try run(ReleaseSuiteTests.releaseLoco, arguments + ["--out", dir + "/bad", "--shard", "3/3"])
        #expect(wrong.status != 0 && wrong.stderr.contains("not among 0..<3"), "\(wrong.stderr)")
        let noFolder = try run(ReleaseSuiteTests.releaseLoco, arguments + ["--shard", "0/2"])
        #expect(noFolder.status != 0 && noFolder.stderr.contains("needs --out"), "\(noFolder.stderr)")
    }

    /// `eval sweep` over three variants (the Q4_1 source, Q8_0, Q4_0): each merge gives the
    /// unsharded results.json less timings, the same score and KLD charts, and links to the
    /// shards' variant files.
    @Test func sweepShardsMergeToTheUnshardedSweep() throws {
        guard ReleaseSuiteTests.available, let model = Peers.defaultModel else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mc = try Self.multipleChoice(dir, items: 2)
        let text = dir + "/text.txt"
        try String(try String(contentsOfFile: Repository.path("Documentation/Training.md"), encoding: .utf8).prefix(1000))
            .write(toFile: text, atomically: true, encoding: .utf8)
        let arguments = ["eval", "sweep", "--model", model, "--quants", "Q8_0,Q4_0", "--suite", mc, "--text", text, "--ctx", "64",
                         "--max-tokens", "8", "--threads", "1", "--probe-prompt-tokens", "16", "--probe-gen-tokens", "8", "--probe-repetitions", "1"]
        let whole = try run(ReleaseSuiteTests.releaseLoco, arguments + ["--out", dir + "/whole"])
        try #require(whole.status == 0, "\(whole.stderr)")
        for count in Self.counts {
            let merged = try Self.shardAndMerge(arguments, count: count, dir: dir)
            #expect(try Self.untimed(merged + "/results.json") == Self.untimed(dir + "/whole/results.json"), "N = \(count)")
            for chart in ["score-vs-size-mc", "score-vs-bpw-mc", "kld-vs-bpw"] {
                #expect(FileManager.default.contents(atPath: "\(merged)/charts/\(chart).svg")
                        == FileManager.default.contents(atPath: "\(dir)/whole/charts/\(chart).svg"), "N = \(count), \(chart)")
            }
            for type in ["Q8_0", "Q4_0"] {
                let stem = ((model as NSString).lastPathComponent as NSString).deletingPathExtension
                #expect(FileManager.default.fileExists(atPath: "\(merged)/models/\(stem)-\(type).gguf"), "N = \(count), \(type)")
            }
        }
    }

    /// `select` (also as `eval select`) over three candidates (the default model with its own
    /// template, as ChatML and as Llama 3): each merge holds every candidate with the unsharded
    /// findings, less timings and the ranks they decide.
    @Test func selectionShardsMergeToTheUnshardedSelection() throws {
        guard ReleaseSuiteTests.available, let model = Peers.defaultModel else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mc = try Self.multipleChoice(dir, items: 2)
        let arguments = ["eval", "select", "--candidates", "\(model),\(model)@chatml,\(model)@llama3", "--suite", mc, "--chat-turns", "0",
                         "--threads", "1", "--probe-prompt-tokens", "16", "--probe-gen-tokens", "8", "--probe-repetitions", "1"]
        let whole = try run(ReleaseSuiteTests.releaseLoco, arguments + ["--out", dir + "/whole"])
        try #require(whole.status == 0, "\(whole.stderr)")
        func byName(_ path: String) throws -> [String: Data] {
            let object = try JSONSerialization.jsonObject(with: Self.untimed(path)) as! [String: Any]
            var out: [String: Data] = [:]
            for candidate in object["candidates"] as! [[String: Any]] {
                out[candidate["name"] as! String] = try JSONSerialization.data(withJSONObject: candidate, options: [.sortedKeys])
            }
            return out
        }
        let expected = try byName(dir + "/whole/selection.json")
        try #require(expected.count == 3)
        for count in Self.counts {
            let merged = try Self.shardAndMerge(arguments, count: count, dir: dir)
            #expect(try byName(merged + "/selection.json") == expected, "N = \(count)")
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: merged + "/selection.json"))) as! [String: Any]
            #expect((object["candidates"] as! [[String: Any]]).map { $0["rank"] as? Int } == [1, 2, 3], "N = \(count)")
        }
    }
}
