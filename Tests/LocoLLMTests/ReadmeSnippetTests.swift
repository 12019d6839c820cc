import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// The README's Swift blocks, compiled and run as a user's package would: `Tests/ReadmeSnippets`
/// depends on this repository by path and uses only the `LocoLLM` product, and its sources are
/// the README's blocks as `scripts/readme-snippets.sh` copies them. One test checks that copy is
/// current, the other builds the package (a debug build of the whole SDK in its own scratch folder,
/// `.build/readme-snippets`, so reruns are incremental) and runs it on the default model.
@Suite struct ReadmeSnippetTests {
    static let package = Repository.path("Tests/ReadmeSnippets")
    static let scratch = Repository.path(".build/readme-snippets")

    @Test func snippetSourcesAreTheReadmesBlocks() throws {
        let result = try run("bash", [Repository.path("scripts/readme-snippets.sh"), "--check"])
        #expect(result.status == 0, "\(result.stdoutText)\(result.stderr)")
    }

    @Test func snippetsBuildAsAnOutsidePackageAndRun() throws {
        guard let modelPath = Peers.defaultModel else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            print("skipped: the default model is not at \(ModelStore().defaultModelPath)")
            return
        }
        let clock = ContinuousClock()
        var start = clock.now
        let build = try run("swift", ["build", "--package-path", Self.package, "--scratch-path", Self.scratch])
        try #require(build.status == 0, "swift build of Tests/ReadmeSnippets:\n\(build.stdoutText.suffix(4000))\(build.stderr.suffix(4000))")
        print("ReadmeSnippets: built in \(clock.now - start)")

        // The copy the first block writes goes to TMPDIR; the registry is empty, so the second
        // block's adapter branch is skipped whatever the machine's own registry holds.
        let folder = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let adapters = folder + "/adapters"
        try FileManager.default.createDirectory(atPath: adapters, withIntermediateDirectories: true)
        start = clock.now
        let result = try run(Self.scratch + "/debug/readme-snippets", [],
                             environment: ["TMPDIR": folder, AdapterRegistry.environmentVariable: adapters])
        print("ReadmeSnippets: ran in \(clock.now - start)")
        try #require(result.status == 0, "readme-snippets exited with \(result.status):\n\(result.stdoutText)\(result.stderr)")

        let output = result.stdoutText
        let parts = output.components(separatedBy: "== README Swift block ")
        try #require(parts.count == 3, "expected two blocks' output:\n\(output)")
        let first = parts[1]
        let second = parts[2].split(separator: "\n", omittingEmptySubsequences: false).dropFirst().map(String.init)

        // Block 1: what the same calls give in this process.
        let model = try GGUFFile(contentsOf: modelPath)
        let embedding = try #require(model.tensors.first { $0.name == "token_embd.weight" })
        let lines = first.split(separator: "\n").map(String.init)
        #expect(lines.dropFirst().first == "\(model.architecture ?? "?") \(model.parameterCount)")
        #expect(lines.contains(String(try model.metadata.integer("llama.block_count") as Int)))
        #expect(lines.contains("\(embedding.type) \(embedding.shape)"))
        #expect(first.contains(ModelReport(file: model).renderText()))
        let copy = try GGUFFile(contentsOf: folder + "/copy.gguf")
        #expect(try copy.metadata.string("general.description") == "my copy")
        #expect(copy.tensors.map(\.name) == model.tensors.map(\.name))

        // Block 2: greedy replies through the chat template, the second one streamed and only
        // answerable with the first turn kept, then the embedding's width.
        let replies = second.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        print("ReadmeSnippets: the generation block printed \(replies)")
        try #require(replies.count == 3, "expected two replies and a width:\n\(parts[2])")
        #expect(replies[0].contains("Paris"), "the reply to \"What is the capital of France?\": \(replies[0])")
        #expect(replies[1].contains("Rome"), "the streamed reply to \"And of Italy?\": \(replies[1])")
        #expect(replies[2] == String(embedding.shape[0]), "the embedding's width")
    }
}
