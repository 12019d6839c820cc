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
}
