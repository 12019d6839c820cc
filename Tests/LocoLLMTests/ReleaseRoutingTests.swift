import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// `loco route` on the default model, through the release build (fitting embeds every example;
/// a debug build takes seconds per query): the team's labelled set (Data/routing, 200 queries,
/// 50 per class, a fifth of each deliberately tricky) routed with the routes file's 12 examples
/// per route and 12 "none" examples. The floors sit a few points under what was measured
/// (logistic 90.5%, centroid 85.0%, keyword 53.5%), so a real regression fails and machine noise cannot.
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

    @Test(arguments: [("centroid", 0.80), ("logistic", 0.85), ("keyword", 0.50)])
    func teamSetAccuracy(_ method: String, _ floor: Double) throws {
        guard Self.available else { return }
        let result = try run(Self.releaseLoco, ["route", "eval", "--routes", routes, "--data", labelled, "--method", method, "--json"])
        try #require(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
        let accuracy = json["accuracy"] as! Double
        print("route eval \(method): accuracy \(accuracy), median decision \(json["median_decision_seconds"] ?? "?") s")
        #expect(accuracy >= floor)
        #expect((json["decisions"] as! [[String: Any]]).count == 200)
        #expect(json["confusion"] is [String: [String: Int]])
    }

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
        let fit = try run(Self.releaseLoco, ["route", "fit", "--routes", routes, "--method", "logistic", "--out", router])
        try #require(fit.status == 0, "\(fit.stderr)")
        let text = try String(contentsOfFile: router, encoding: .utf8)
        try text.replacingOccurrences(of: "mean-pool", with: "other-pool").write(toFile: router, atomically: true, encoding: .utf8)
        let refused = try run(Self.releaseLoco, ["route", "hello", "--router", router])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("fitted on embeddings"), "\(refused.stderr)")
    }

    /// `loco ask` over a registry of two adapters for the default model (random LoRA factors from
    /// scripts/make-lora-fixtures.py, registered with the routes file's keywords and examples):
    /// each question is answered through the adapter its route names, said on standard error.
    @Test func askAnswersThroughTheRoutedAdapter() throws {
        guard Self.available, let model = Peers.defaultModel else { return }
        guard Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "python3 with gguf is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = try Routes(contentsOf: routes)
        let env = ["LOCO_ADAPTERS": dir + "/registry", "OPENBLAS_NUM_THREADS": "1"]
        for (seed, name) in ["math", "code"].enumerated() {
            let route = table.routes.first { $0.name == name }!
            let made = try run("python3", [Repository.path("scripts/make-lora-fixtures.py"), model, dir + "/" + name,
                                           "--rank", "2", "--alpha", "1", "--seed", "\(seed + 1)", "--targets", "attn_q"])
            try #require(made.status == 0, "\(made.stderr)")
            let added = try run(Self.releaseLoco, ["adapters", "add", dir + "/" + name + "/adapter.gguf", "--name", name, "--base", model,
                                                   "--keywords", route.keywords.joined(separator: ","),
                                                   "--examples", route.examples.joined(separator: "|")], environment: env)
            try #require(added.status == 0, "\(added.stderr)")
        }
        for method in ["logistic", "keyword"] {
            for (question, expected) in [("What is 25 percent of 240?", "math"), ("Calculate the average of 3, 5 and 10.", "math"),
                                         ("Write a Python function that checks if a number is prime.", "code"),
                                         ("Why does my JavaScript loop print undefined twice?", "code")] {
                let asked = try run(Self.releaseLoco, ["ask", question, "--method", method, "--max-tokens", "4", "--greedy"], environment: env)
                #expect(asked.status == 0, "\(asked.stderr)")
                #expect(asked.stderr.contains("adapter \(expected) answers"), "\(method) \(question): \(asked.stderr)")
                #expect(!asked.stdout.isEmpty)
            }
        }
    }
}
