import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// `loco adapters` and `loco merge` as a user runs them: a random F32 llama model and a random
/// adapter for it (scripts/make-random-model.py, scripts/make-lora-fixtures.py), a registry in a
/// temporary folder.
@Suite(.serialized) struct AdapterCommandTests {
    let loco = Repository.productsDirectory + "/loco"

    func fixture() throws -> (base: String, adapter: String)? {
        guard Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "python3 with gguf is required (LOCO_REQUIRE_PEERS=1)")
            return nil
        }
        let base = try RandomModels.path("llama-f32")
        let folder = RandomModels.scratch("cli-lora")
        let result = try run("python3", [Repository.path("scripts/make-lora-fixtures.py"), base, folder, "--rank", "4", "--seed", "9",
                                         "--targets", "attn_q,attn_v"])
        try #require(result.status == 0, "\(result.stderr)")
        return (base, folder + "/adapter.gguf")
    }

    /// `loco route` with neither --routes nor --router routes between the registry's adapters
    /// by the keywords their manifests carry (upstream's rule), and says so in JSON.
    @Test func routesComeFromTheRegistrysManifests() throws {
        guard let (base, adapter) = try fixture() else { return }
        let registry = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: registry) }
        let env = ["LOCO_ADAPTERS": registry]
        var result = try run(loco, ["route", "what is the sum", "--method", "keyword"], environment: env)
        #expect(result.status == 1 && result.stderr.contains("no adapter in the registry"), "\(result.stderr)")
        for (name, keywords) in [("math", "sum,product,percent"), ("code", "python,function,sum")] {
            result = try run(loco, ["adapters", "add", adapter, "--name", name, "--base", base, "--keywords", keywords], environment: env)
            try #require(result.status == 0, "\(result.stderr)")
        }
        for (query, expected) in [("the product and the percent", "math"), ("a python function", "code"),
                                  ("the sum", "code"), ("a poem", nil)] as [(String, String?)] {
            result = try run(loco, ["route", query, "--method", "keyword", "--json"], environment: env)
            try #require(result.status == 0, "\(result.stderr)")
            let decision = try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
            #expect(decision["route"] as? String == expected, "\(query): \(decision)")
        }
    }

    /// `adapters add --training-data`: the registry keeps a copy and its routes take each
    /// conversation's first user message as an example (no repeats, none over the limit); a
    /// file that is not chat JSONL is refused and nothing is added.
    @Test func trainingDataGivesARoutesExamples() throws {
        guard let (base, adapter) = try fixture() else { return }
        let registry = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: registry) }
        let env = ["LOCO_ADAPTERS": registry]
        let data = registry + "/../\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: data) }
        func chat(_ user: String) -> String {
            "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"\(user)\"}, "
                + "{\"role\": \"assistant\", \"content\": \"ok\"}]}"
        }
        try ([chat("What is 2 + 2?"), chat("What is 3 * 4?"), chat("What is 2 + 2?")].joined(separator: "\n") + "\n")
            .write(toFile: data, atomically: true, encoding: .utf8)
        var result = try run(loco, ["adapters", "add", adapter, "--name", "sums", "--base", base, "--training-data", data], environment: env)
        try #require(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: registry + "/sums/training.jsonl"))
        let routes = try Routes(registry: AdapterRegistry(folder: registry))
        #expect(routes.routes.map(\.name) == ["sums"])
        #expect(routes.routes[0].examples == ["What is 2 + 2?", "What is 3 * 4?"])
        #expect(routes.noneExamples == Routes.everydayNoneExamples)
        let many = (0..<300).map { "question \($0)" }
        try many.map(chat).joined(separator: "\n").write(toFile: data, atomically: true, encoding: .utf8)
        let limited = try Routes.trainingPrompts(contentsOf: data)
        #expect(limited.count == Routes.trainingPromptLimit && limited.first == "question 0" && Set(limited).count == limited.count)

        try "{\"text\": \"not a chat\"}\n".write(toFile: data, atomically: true, encoding: .utf8)
        result = try run(loco, ["adapters", "add", adapter, "--name", "broken", "--base", base, "--training-data", data], environment: env)
        #expect(result.status == 1 && result.stderr.contains(data), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: registry + "/broken"))
    }

    @Test func registryAddListValidateRemove() throws {
        guard let (base, adapter) = try fixture() else { return }
        let registry = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: registry) }
        let env = ["LOCO_ADAPTERS": registry]
        var result = try run(loco, ["adapters", "add", adapter, "--name", "math-v1", "--base", base, "--keywords", "sum,product"],
                             environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        result = try run(loco, ["adapters", "list", "--json"], environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        let listed = try JSONSerialization.jsonObject(with: result.stdout)
        #expect("\(listed)".contains("math-v1") && "\(listed)".contains("sum"))
        result = try run(loco, ["adapters", "validate", "math-v1", "--base", base], environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        // A name resolves wherever a path does.
        let out = RandomModels.scratch("logits.f32")
        result = try run(loco, ["logits", "--model", base, "--tokens", "1,2,3", "--out", out, "--adapter", "math-v1"], environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        // Adding the same name again fails and keeps the entry.
        result = try run(loco, ["adapters", "add", adapter, "--name", "math-v1", "--base", base], environment: env)
        #expect(result.status == 1 && !result.stderr.isEmpty)
        result = try run(loco, ["adapters", "remove", "math-v1"], environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        result = try run(loco, ["adapters", "validate", "math-v1", "--base", base], environment: env)
        #expect(result.status == 1 && result.stderr.contains("math-v1"), "\(result.stderr)")
    }

    @Test func mergeWritesALoadableModelAndRefusesAMismatch() throws {
        guard let (base, adapter) = try fixture() else { return }
        let out = RandomModels.scratch("merged.gguf")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var result = try run(loco, ["merge", base, adapter, out, "Q8_0", "--adapter-scale", "0.5"])
        #expect(result.status == 0, "\(result.stderr)")
        result = try run(loco, ["inspect", out, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText.contains("\"Q8_0\""))
        // An adapter for another base (qwen3) is refused and nothing is written.
        let qwen = try RandomModels.path("qwen3-f16-tied")
        let refused = RandomModels.scratch("refused.gguf")
        result = try run(loco, ["merge", qwen, adapter, refused])
        #expect(result.status == 1 && result.stderr.contains("llama"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: refused))
    }
}
