import Foundation
import LocoLLM
import LocoTestSupport
import Testing

@Suite struct ModelStoreTests {
    @Test func missingDefaultModelSaysHowToFetchIt() throws {
        let store = ModelStore(directory: "/nonexistent/models")
        #expect(throws: ModelStoreError.defaultModelMissing(path: "/nonexistent/models/SmolLM2-135M-Instruct.Q4_1.gguf")) {
            try store.resolve(nil)
        }
        let message = ModelStoreError.defaultModelMissing(path: "/x").description
        #expect(message.contains("scripts/fetch-model.sh"))
        #expect(message.contains("LOCO_MODELS"))
    }

    @Test func resolvesPathsAndNamesInTheStore() throws {
        let store = ModelStore(directory: Repository.ggufFixtures)
        #expect(try store.resolve("align-32") == Repository.ggufFixture("align-32.gguf"))
        #expect(try store.resolve("align-32.gguf") == Repository.ggufFixture("align-32.gguf"))
        let absolute = Repository.ggufFixture("no-tensors.gguf")
        #expect(try store.resolve(absolute) == absolute)
        #expect(throws: ModelStoreError.self) { try store.resolve("no-such-model") }
        #expect(store.list().contains("value-types.gguf"))
    }

    @Test func environmentChoosesTheFolder() throws {
        let result = try run(Repository.productsDirectory + "/loco", ["inspect"], environment: ["LOCO_MODELS": "/nonexistent/store"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("/nonexistent/store/SmolLM2-135M-Instruct.Q4_1.gguf"))
    }
}

@Suite struct ModelReportTests {
    @Test func reportCountsAndTotals() throws {
        let file = try GGUFFile(contentsOf: Repository.ggufFixture("align-64.gguf"))
        let report = ModelReport(file: file)
        #expect(report.tensors.count == 5)
        #expect(report.parameterCount == 15 + 96 + 7 + 512 + 384)
        #expect(report.totalsByType.reduce(0) { $0 + $1.bytes } == report.tensorBytes)
        #expect(report.alignment == 64)
        #expect(report.memory == nil)  // no hyper-parameters in this fixture
        let text = report.renderText()
        #expect(text.contains("d.weight"))
        #expect(text.contains("Q6_K"))
    }

    @Test func longArraysAreSummarizedInTextAndWholeInJSON() throws {
        let file = try GGUFFile(contentsOf: Repository.ggufFixture("value-types.gguf"))
        let report = ModelReport(file: file)
        let text = report.renderText(arrayPreview: 2)
        #expect(text.contains("5 items: [\"a\", \"\", ...]"))
        let json = try JSONSerialization.jsonObject(with: Data(try report.renderJSON().utf8)) as! [String: Any]
        let metadata = json["metadata"] as! [[String: Any]]
        let strings = metadata.first { $0["key"] as? String == "test.arr_string" }!
        #expect((strings["value"] as! [String]).count == 5)
        #expect(strings["type"] as? String == "ARRAY[STRING]")
        let nested = metadata.first { $0["key"] as? String == "test.arr_nested" }!
        #expect(nested["type"] as? String == "ARRAY[ARRAY[INT32]]")
    }

    @Test func memoryEstimateOfTheDefaultModel() throws {
        guard let model = Peers.defaultModel else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let report = ModelReport(file: try GGUFFile(contentsOf: model), contextLength: 2048)
        let memory = try #require(report.memory)
        // 30 layers x 2048 positions x 3 KV heads x (64 + 64) dims x 2 bytes.
        #expect(memory.kvCacheBytes == 30 * 2048 * 3 * 128 * 2)
        #expect(memory.weightBytes == report.tensorBytes)
        #expect(report.parameterCount == 134_515_008)
    }
}
