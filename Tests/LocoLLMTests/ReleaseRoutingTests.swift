import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// `loco route` on the default model, through the release build (fitting embeds every example;
/// a debug build takes seconds per query), with the routes file's 12 examples per route and 12
/// "none" examples: the team's labelled set (Data/routing/labelled.jsonl, 200 queries, 50 per
/// class, a fifth of each deliberately tricky) and a set written apart from it by someone who
/// saw neither it nor the routes file (Data/routing/outside.jsonl, 240 queries, 60 per class, a
/// quarter tricky). The floors sit a few points under what was measured (team: logistic 95.5%,
/// hybrid 96.0%, centroid 90.0%, keyword 53.5%; outside: logistic 97.1%, centroid 89.6%), so a
/// real regression fails and machine noise cannot.
@Suite struct ReleaseRoutingTests {
    static var releaseLoco: String {
        ProcessInfo.processInfo.environment["LOCO_RELEASE_LOCO"] ?? Repository.path(".build/release/loco")
    }
    static var available: Bool {
        let ready = Peers.defaultModel != nil && FileManager.default.isExecutableFile(atPath: releaseLoco)
        if !ready {
            print("skipped: ReleaseRoutingTests need the default model and .build/release/loco (scripts/test.sh builds it)")
            #expect(!Peers.required, "the default model and the release loco are required (LOCO_REQUIRE_PEERS=1)")
        }
        return ready
    }

    let routes = Repository.path("Data/routing/routes.json")
    let labelled = Repository.path("Data/routing/labelled.jsonl")

    @Test(arguments: [("labelled", "centroid", 0.86), ("labelled", "logistic", 0.92), ("labelled", "hybrid", 0.92),
                      ("labelled", "keyword", 0.50), ("outside", "logistic", 0.93), ("outside", "centroid", 0.86)])
    func accuracyOnTheLabelledSets(_ set: String, _ method: String, _ floor: Double) throws {
        guard Self.available else { return }
        let data = Repository.path("Data/routing/\(set).jsonl")
        let result = try run(Self.releaseLoco, ["route", "eval", "--routes", routes, "--data", data, "--method", method, "--json"],
                             environment: ["LOCO_EMBEDDING_CACHE": Self.cache])
        try #require(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
        let accuracy = json["accuracy"] as! Double
        print("route eval \(set) \(method): accuracy \(accuracy), median decision \(json["median_decision_seconds"] ?? "?") s")
        #expect(accuracy >= floor)
        #expect((json["decisions"] as! [[String: Any]]).count == (set == "outside" ? 240 : 200))
        #expect(json["confusion"] is [String: [String: Int]])
    }

    /// One embedding cache for the suite's runs (the examples are embedded once, not per test).
    static let cache = NSTemporaryDirectory() + "loco-routing-tests-\(getpid())"

    @Test func decisionAsJSONAndAFittedFileOfAnotherModelIsRefused() throws {
        guard Self.available else { return }
        let decide = try run(Self.releaseLoco, ["route", "What is 15% of 240?", "--routes", routes, "--method", "centroid", "--json"])
        try #require(decide.status == 0, "\(decide.stderr)")
        let decision = try JSONSerialization.jsonObject(with: decide.stdout) as! [String: Any]
        #expect(decision["route"] as? String == "math")
        #expect((decision["scores"] as? [String: Double])?.keys.sorted() == ["analysis", "code", "math", "none"])

        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let router = dir + "/router.json"
        // Fitted on the final states (--layer 30 of SmolLM2's 30 blocks): the file says so and
        // is read back at that depth without being told.
        let fit = try run(Self.releaseLoco, ["route", "fit", "--routes", routes, "--method", "logistic", "--layer", "30", "--out", router])
        try #require(fit.status == 0, "\(fit.stderr)")
        let loaded = try run(Self.releaseLoco, ["route", "What is 15% of 240?", "--router", router, "--json"])
        #expect(loaded.status == 0 && loaded.stdoutText.contains("\"route\":\"math\""), "\(loaded.stdoutText) \(loaded.stderr)")
        let text = try String(contentsOfFile: router, encoding: .utf8)
        try text.replacingOccurrences(of: "mean-pool", with: "other-pool").write(toFile: router, atomically: true, encoding: .utf8)
        let refused = try run(Self.releaseLoco, ["route", "hello", "--router", router])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("fitted on embeddings"), "\(refused.stderr)")

        // Asking through routes whose adapters the registry lacks fails before any answer.
        let unknown = try run(Self.releaseLoco, ["ask", "What is 15% of 240?", "--routes", routes, "--method", "keyword"],
                              environment: ["LOCO_ADAPTERS": dir + "/empty-registry"])
        #expect(unknown.status == 1 && unknown.stdout.isEmpty, "\(unknown.stdoutText)")
        #expect(unknown.stderr.contains("no adapter named 'analysis'"), "\(unknown.stderr)")
    }

    /// `loco ask` over a registry of two adapters trained here by `loco train` (a few steps on
    /// the generated math set and on Data/training/code.jsonl), registered with their training
    /// data (the embedding router fits on its prompts) and the routes file's keywords: each
    /// question is answered through the adapter its route names, said on standard error, under
    /// logistic and keyword routing; `loco run --adapter auto` routes the same way; a question for
    /// neither goes to the base model (the registry's routes carry everyday "none" examples).
    @Test func askAnswersThroughAdaptersTrainedByLocoTrain() throws {
        guard Self.available, let model = Peers.defaultModel else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = try Routes(contentsOf: routes)
        let env = ["LOCO_ADAPTERS": dir + "/registry", "LOCO_EMBEDDING_CACHE": dir + "/embeddings", "OPENBLAS_NUM_THREADS": "1"]
        let made = try run(Self.releaseLoco, ["data", "math", "--out", dir + "/math", "--train", "48", "--test", "1", "--seed", "3"])
        try #require(made.status == 0, "\(made.stderr)")
        for (name, data) in [("math", dir + "/math/train.jsonl"), ("code", Repository.path("Data/training/code.jsonl"))] {
            let trained = try run(Self.releaseLoco, ["train", "--model", model, "--data", data, "--out", dir + "/" + name, "--steps", "2",
                                                     "--batch", "2", "--rank", "4", "--targets", "q,v", "--max-seq-len", "128", "--quiet"])
            try #require(trained.status == 0, "loco train \(name): \(trained.stderr)")
            let keywords = table.routes.first { $0.name == name }!.keywords
            let added = try run(Self.releaseLoco, ["adapters", "add", dir + "/" + name + "/adapter.gguf", "--name", name, "--base", model,
                                                   "--training-data", data, "--keywords", keywords.joined(separator: ",")], environment: env)
            try #require(added.status == 0, "\(added.stderr)")
        }
        // Run in `dir`, where folders named like the routes (math, code) must not shadow the
        // registry's entries.
        let questions = [("What is 25 percent of 240?", "math"), ("Calculate the average of 3, 5 and 10.", "math"),
                         ("Write a Python function that checks if a number is prime.", "code"),
                         ("How do I sort a list in Python?", "code")]
        for method in ["logistic", "keyword"] {
            for (question, expected) in questions {
                let asked = try run(Self.releaseLoco, ["ask", question, "--method", method, "--max-tokens", "4", "--greedy"],
                                    environment: env, directory: dir)
                #expect(asked.status == 0, "\(asked.stderr)")
                #expect(asked.stderr.contains("adapter \(expected) answers"), "\(method) \(question): \(asked.stderr)")
                #expect(!asked.stdout.isEmpty)
            }
        }
        let base = try run(Self.releaseLoco, ["ask", "What is the capital of France?", "--max-tokens", "4", "--greedy"],
                               environment: env, directory: dir)
        #expect(base.status == 0 && base.stderr.contains("the base model answers"), "\(base.stderr)")
        let auto = try run(Self.releaseLoco, ["run", "--adapter", "auto", "Write a Python function that adds two numbers.",
                                              "--max-tokens", "4", "--greedy"], environment: env, directory: dir)
        #expect(auto.status == 0 && auto.stderr.contains("adapter code answers"), "\(auto.stderr)")
        // The examples' embeddings were kept: the first ask embedded them, later ones read them.
        let cached = try FileManager.default.contentsOfDirectory(atPath: dir + "/embeddings")
        #expect(cached.count == 1 && cached[0].hasSuffix(".bin"), "\(cached)")
    }
}
