import Foundation
import GGUFFormat
import Inference
@testable import Adapters
import LocoTestSupport
import Testing

/// The adapter registry: manifests, fingerprints, add/list/remove/validate and its typed errors.
@Suite(.serialized) struct RegistryTests {
    // MARK: - Helpers

    private func registry() throws -> AdapterRegistry {
        AdapterRegistry(folder: try Repository.temporaryDirectory() + "/adapters")
    }

    private func fullManifest() -> AdapterManifest {
        AdapterManifest(
            name: "math-1.b_c", version: "0.2.0+build.7", description: "Arithmetic \"word\" problems\n(é)", authors: ["A. Person", "B"],
            baseModel: BaseFingerprint(architecture: "llama", tensors: String(repeating: "0123456789abcdef", count: 4)),
            rank: 8, alpha: 16.5, targets: ["blk.0.attn_q.weight", "blk.0.attn_v.weight"],
            training: .init(dataset: "gsm8k-mini", steps: 1200, epochs: 2.5, learningRate: 0.0002, trainedAt: "2026-11-27T10:00:00Z"),
            evaluation: .init(set: "math-eval-v1", scores: ["exact_match": 0.625, "accuracy": 0.75, "base_accuracy": 1e-05]),
            routerKeywords: ["math", "sum"], exampleQueries: ["What is 2+2?", "Solve x|y"])
    }

    private func expectRegistryError(
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void, _ check: (RegistryError.Kind) -> Bool
    ) {
        do {
            try body()
            Issue.record("no error thrown", sourceLocation: sourceLocation)
        } catch let error as RegistryError {
            #expect(check(error.kind), "unexpected error: \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("not a RegistryError: \(error)", sourceLocation: sourceLocation)
        }
    }

    /// The hidden (staging or trash) names left in the registry folder.
    private func leftovers(_ registry: AdapterRegistry) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: registry.folder)) ?? []).filter { $0.hasPrefix(".") }
    }

    private func makeManifest(for fixture: LoRAFixture, name: String) throws -> AdapterManifest {
        try AdapterManifest(name: name, adapter: LoRAAdapter(contentsOf: fixture.gguf), base: GGUFFile(contentsOf: fixture.base))
    }

    // MARK: - Manifests

    @Test func manifestRoundTripsWithStableKeyOrder() throws {
        let manifest = fullManifest()
        let text = manifest.jsonText()
        #expect(text == manifest.jsonText())
        let parsed = try AdapterManifest.parse(Array(text.utf8))
        #expect(parsed == manifest)
        #expect(parsed.jsonText() == text)
        try manifest.checkSanity()

        // Keys in the documented order; scores sorted.
        let keys = ["\"name\"", "\"version\"", "\"description\"", "\"authors\"", "\"base_model\"", "\"rank\"", "\"alpha\"",
                    "\"targets\"", "\"training\"", "\"learning_rate\"", "\"trained_at\"", "\"evaluation\"", "\"accuracy\"",
                    "\"base_accuracy\"", "\"exact_match\"", "\"router_keywords\"", "\"example_queries\""]
        let positions = keys.map { text.range(of: $0)!.lowerBound }
        #expect(positions == positions.sorted())

        // Codable uses the same keys and gives the same value back.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(manifest)
        #expect(try JSONDecoder().decode(AdapterManifest.self, from: data) == manifest)
        #expect(try encoder.encode(JSONDecoder().decode(AdapterManifest.self, from: data)) == data)
        #expect(String(decoding: data, as: UTF8.self).contains("\"router_keywords\""))
        // The file text decodes with JSONDecoder too.
        #expect(try JSONDecoder().decode(AdapterManifest.self, from: Data(text.utf8)) == manifest)

        // Optional members may be left out.
        let minimal = """
            {"name": "m", "version": "1", "base_model": {"architecture": "qwen3", "tensors": "\(String(repeating: "a", count: 64))"},
             "rank": 4, "alpha": 8, "targets": ["blk.0.attn_q.weight"]}
            """
        let m = try AdapterManifest.parse(Array(minimal.utf8))
        #expect(m.description == "" && m.authors.isEmpty && m.training == nil && m.evaluation == nil && m.routerKeywords.isEmpty)
        try m.checkSanity()
    }

    @Test func malformedManifestsNameTheField() {
        func parse(_ text: String) throws { _ = try AdapterManifest.parse(Array(text.utf8), path: "x/manifest.json") }
        expectRegistryError({ try parse("{") }) { if case .invalidJSON = $0 { true } else { false } }
        expectRegistryError({ try parse("[]") }) { if case .invalidField = $0 { true } else { false } }
        expectRegistryError({ try parse(#"{"name": "a"}"#) }) { $0 == .invalidField(field: "version", reason: "is missing") }
        let base = #""base_model": {"architecture": "llama", "tensors": "x"}"#
        expectRegistryError({ try parse(#"{"name": "a", "version": "1", "base_model": {"architecture": 3}}"#) }) {
            if case .invalidField(field: "base_model.architecture", _) = $0 { true } else { false }
        }
        expectRegistryError({ try parse(#"{"name": "a", "version": "1", \#(base), "rank": -1}"#) }) {
            if case .invalidField(field: "rank", _) = $0 { true } else { false }
        }
        expectRegistryError({ try parse(#"{"name": "a", "version": "1", \#(base), "rank": 2, "alpha": 1, "targets": ["t"], "training": {"steps": "many"}}"#) }) {
            if case .invalidField(field: "training.steps", _) = $0 { true } else { false }
        }
        var bad = fullManifest()
        bad.name = "../x"
        expectRegistryError({ try bad.checkSanity() }) { $0 == .invalidName("../x") }
        bad = fullManifest()
        bad.version = "1 beta"
        expectRegistryError({ try bad.checkSanity() }) { if case .invalidField(field: "version", _) = $0 { true } else { false } }
        bad = fullManifest()
        bad.baseModel.tensors = "abc"
        expectRegistryError({ try bad.checkSanity() }) { if case .invalidField(field: "base_model.tensors", _) = $0 { true } else { false } }
    }

    @Test func names() {
        for good in ["math", "Math-2.1_b", "a", String(repeating: "x", count: 128)] { #expect(AdapterRegistry.isValidName(good), "\(good)") }
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a b", "é", String(repeating: "x", count: 129), "/abs"] {
            #expect(!AdapterRegistry.isValidName(bad), "\(bad)")
        }
    }

    // MARK: - Fingerprints

    @Test func fingerprintIdentifiesTheBaseLayout() throws {
        guard LoRAFixture.available else { return }
        let llama = try LoRAFixture.llama(), qwen = try LoRAFixture.qwen3()
        let a = BaseFingerprint(of: try GGUFFile(contentsOf: llama.base))
        let b = BaseFingerprint(of: try GGUFFile(contentsOf: llama.base))
        let c = BaseFingerprint(of: try GGUFFile(contentsOf: qwen.base))
        #expect(a == b)
        #expect(a.architecture == "llama" && c.architecture == "qwen3")
        #expect(a.tensors != c.tensors)
        #expect(a.tensors.count == 64 && c.tensors.count == 64)
    }

    // MARK: - The registry

    @Test func addListResolveValidateRemove() throws {
        guard LoRAFixture.available else { return }
        let fixture = try LoRAFixture.llama()
        let registry = try registry()
        let base = try GGUFFile(contentsOf: fixture.base)
        #expect(try registry.list().isEmpty)

        var manifest = try makeManifest(for: fixture, name: "llama-gguf")
        manifest.routerKeywords = ["math"]
        manifest.evaluation = .init(set: "eval", scores: ["accuracy": 0.5])
        let entry = try registry.add(adapterAt: fixture.gguf, manifest: manifest)
        #expect(entry == registry.folder + "/llama-gguf")
        #expect(FileManager.default.fileExists(atPath: entry + "/adapter.gguf"))

        var peftManifest = try makeManifest(for: fixture, name: "llama-peft")
        peftManifest.version = "2.0"
        try registry.add(adapterAt: fixture.peft("f32"), manifest: peftManifest)
        #expect(FileManager.default.fileExists(atPath: registry.folder + "/llama-peft/peft/adapter_config.json"))

        #expect(registry.names() == ["llama-gguf", "llama-peft"])
        #expect(try registry.list() == [manifest, peftManifest])
        #expect(try registry.manifest(named: "llama-gguf") == manifest)
        #expect(try registry.validate(named: "llama-gguf", against: base) == manifest)
        #expect(try registry.validate(named: "llama-peft", against: base) == peftManifest)
        let configuration = try ModelConfiguration(metadata: GGUFFile(contentsOf: fixture.base).metadata)
        #expect(try registry.load(named: "llama-peft").adapter.inGGUFOrder(for: configuration).weights
                == LoRAAdapter(contentsOf: fixture.gguf).weights)

        #expect(try registry.resolve("llama-gguf") == entry + "/adapter.gguf")
        #expect(try registry.resolve("llama-peft") == registry.folder + "/llama-peft/peft")
        #expect(try registry.resolve(fixture.gguf) == fixture.gguf)
        // A folder of an entry's name that is not an adapter (a data folder in the working
        // directory) does not hide the entry; a file or a PEFT folder does.
        #expect(AdapterRegistry.couldBeAdapter(fixture.gguf))
        #expect(AdapterRegistry.couldBeAdapter(fixture.peft("f32")))
        #expect(!AdapterRegistry.couldBeAdapter(registry.folder))
        expectRegistryError({ _ = try registry.resolve("nope") }) { $0 == .notFound("nope") }
        expectRegistryError({ _ = try registry.resolve("../nope") }) { $0 == .notFound("../nope") }

        try registry.remove(named: "llama-gguf")
        #expect(registry.names() == ["llama-peft"])
        #expect(!FileManager.default.fileExists(atPath: entry))
        expectRegistryError({ try registry.remove(named: "llama-gguf") }) { $0 == .notFound("llama-gguf") }
        #expect(leftovers(registry).isEmpty)
    }

    @Test func validationFailuresAreTyped() throws {
        guard LoRAFixture.available else { return }
        let fixture = try LoRAFixture.llama()
        let registry = try registry()
        let base = try GGUFFile(contentsOf: fixture.base)
        let qwenBase = try GGUFFile(contentsOf: try LoRAFixture.qwen3().base)
        let manifestPath = registry.folder + "/a/manifest.json"

        // Rank in the manifest differs from the file: refused by add, and caught by validate.
        var wrongRank = try makeManifest(for: fixture, name: "a")
        wrongRank.rank = 4
        expectRegistryError({ try registry.add(adapterAt: fixture.gguf, manifest: wrongRank) }) {
            $0 == .manifestMismatch(field: "rank", manifest: "4", adapter: "8")
        }
        #expect(registry.names().isEmpty && leftovers(registry).isEmpty)

        try registry.add(adapterAt: fixture.gguf, manifest: try makeManifest(for: fixture, name: "a"))
        let good = try String(contentsOfFile: manifestPath, encoding: .utf8)
        try wrongRank.jsonText().write(toFile: manifestPath, atomically: true, encoding: .utf8)
        expectRegistryError({ try registry.validate(named: "a", against: base) }) {
            $0 == .manifestMismatch(field: "rank", manifest: "4", adapter: "8")
        }
        var wrongTargets = try makeManifest(for: fixture, name: "a")
        wrongTargets.targets.removeLast()
        try wrongTargets.jsonText().write(toFile: manifestPath, atomically: true, encoding: .utf8)
        expectRegistryError({ try registry.validate(named: "a", against: base) }) {
            if case .manifestMismatch(field: "targets", _, _) = $0 { true } else { false }
        }

        // Wrong base.
        try good.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        try registry.validate(named: "a", against: base)
        expectRegistryError({ try registry.validate(named: "a", against: qwenBase) }) {
            $0 == .baseMismatch(manifest: BaseFingerprint(of: base), base: BaseFingerprint(of: qwenBase))
        }

        // A manifest whose name is not its folder's.
        var renamed = try makeManifest(for: fixture, name: "b")
        renamed.description = "moved"
        try renamed.jsonText().write(toFile: manifestPath, atomically: true, encoding: .utf8)
        expectRegistryError({ _ = try registry.manifest(named: "a") }) { $0 == .nameMismatch(manifest: "b", folder: "a") }

        // Bad JSON.
        try "{\"name\": ".write(toFile: manifestPath, atomically: true, encoding: .utf8)
        expectRegistryError({ try registry.validate(named: "a", against: base) }) { if case .invalidJSON = $0 { true } else { false } }
        expectRegistryError({ _ = try registry.list() }) { if case .invalidJSON = $0 { true } else { false } }

        // Missing manifest, missing adapter file.
        try FileManager.default.removeItem(atPath: manifestPath)
        expectRegistryError({ try registry.validate(named: "a", against: base) }) { $0 == .missingFile("manifest.json") }
        try good.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: registry.folder + "/a/adapter.gguf")
        expectRegistryError({ try registry.validate(named: "a", against: base) }) { $0 == .missingAdapter }
        expectRegistryError({ _ = try registry.resolve("a") }) { $0 == .missingAdapter }

        // A corrupt adapter file.
        try Data("GGUF".utf8).write(to: URL(fileURLWithPath: registry.folder + "/a/adapter.gguf"))
        expectRegistryError({ try registry.validate(named: "a", against: base) }) { if case .adapterUnreadable = $0 { true } else { false } }

        // Bad names never touch the file system.
        var traversal = try makeManifest(for: fixture, name: "ok")
        traversal.name = "../x"
        expectRegistryError({ try registry.add(adapterAt: fixture.gguf, manifest: traversal) }) { $0 == .invalidName("../x") }
        expectRegistryError({ try registry.remove(named: "../x") }) { $0 == .invalidName("../x") }
        expectRegistryError({ try registry.validate(named: "..", against: base) }) { $0 == .invalidName("..") }
        expectRegistryError({ _ = try registry.manifest(named: "a/../a") }) { $0 == .invalidName("a/../a") }
        #expect(!FileManager.default.fileExists(atPath: registry.folder + "/../x"))

        // Adding from a missing source.
        expectRegistryError({ try registry.add(adapterAt: registry.folder + "/none.gguf", manifest: try makeManifest(for: fixture, name: "c")) }) {
            $0 == .missingAdapter
        }
        #expect(leftovers(registry).isEmpty)
    }

    @Test func failedAddLeavesTheOldEntryIntact() throws {
        guard LoRAFixture.available else { return }
        let llama = try LoRAFixture.llama(), qwen = try LoRAFixture.qwen3()
        let registry = try registry()
        let original = try makeManifest(for: llama, name: "x")
        try registry.add(adapterAt: llama.gguf, manifest: original)
        let manifestBytes = try Data(contentsOf: URL(fileURLWithPath: registry.folder + "/x/manifest.json"))
        let adapterBytes = try Data(contentsOf: URL(fileURLWithPath: registry.folder + "/x/adapter.gguf"))

        var other = try makeManifest(for: qwen, name: "x")
        other.description = "a different adapter"
        expectRegistryError({ try registry.add(adapterAt: qwen.gguf, manifest: other) }) { $0 == .alreadyExists("x") }
        // A replacement that fails its checks leaves the old entry too.
        var broken = other
        broken.alpha = 1
        expectRegistryError({ try registry.add(adapterAt: qwen.gguf, manifest: broken, replace: true) }) {
            if case .manifestMismatch(field: "alpha", _, _) = $0 { true } else { false }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: registry.folder + "/x/manifest.json")) == manifestBytes)
        #expect(try Data(contentsOf: URL(fileURLWithPath: registry.folder + "/x/adapter.gguf")) == adapterBytes)
        #expect(try registry.validate(named: "x", against: GGUFFile(contentsOf: llama.base)) == original)
        #expect(leftovers(registry).isEmpty)

        // An explicit replace swaps the whole entry.
        try registry.add(adapterAt: qwen.gguf, manifest: other, replace: true)
        #expect(try registry.validate(named: "x", against: GGUFFile(contentsOf: qwen.base)) == other)
        #expect(try Data(contentsOf: URL(fileURLWithPath: registry.folder + "/x/adapter.gguf")) != adapterBytes)
        #expect(registry.names() == ["x"] && leftovers(registry).isEmpty)
    }

    @Test func defaultFolder() {
        // An explicit folder wins; otherwise the folder ends in locollm/adapters or is $LOCO_ADAPTERS.
        #expect(AdapterRegistry(folder: "/tmp/r").folder == "/tmp/r")
        let folder = AdapterRegistry().folder
        let env = ProcessInfo.processInfo.environment["LOCO_ADAPTERS"]
        #expect(folder == env || folder.hasSuffix("/locollm/adapters"))
    }
}
