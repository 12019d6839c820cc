import Training
import Testing

/// Pre-tokenized lines: masks as given (or all but the first), truncation, and bad lines named
/// by their line number.
@Suite struct TokenDatasetTests {
    func load(_ text: String, maxSequenceLength: Int = 8) throws -> TokenDataset {
        try TokenDataset(jsonl: Array(text.utf8), source: "t.jsonl", vocabularySize: 10, maxSequenceLength: maxSequenceLength)
    }

    @Test func readsMasksAndCuts() throws {
        let data = try load("{\"tokens\": [1, 2, 3], \"trained\": [1, 0, 1]}\r\n\n{\"tokens\": [4, 5, 6, 7, 8]}\n", maxSequenceLength: 4)
        #expect(data.sequences.map(\.tokens) == [[1, 2, 3], [4, 5, 6, 7]])
        #expect(data.sequences.map(\.trained) == [[false, false, true], [false, true, true, true]])
        #expect(data.truncatedCount == 1)
        #expect(data.sha256.count == 64)
    }

    @Test func badLinesNameTheirLine() {
        for (text, line) in [("{\"tokens\": [1, 2]}\n{\"tokens\": [1, 10]}", 2), ("\n\n[1, 2]", 3), ("{\"tokens\": []}", 1),
                             ("{\"tokens\": [1, 2], \"trained\": [0]}", 1), ("{\"tokens\": [1, 2], \"trained\": [0, 0]}", 1),
                             ("{\"tokens\": [1, -2]}", 1), ("{\"tokens\": [1, 2]", 1)] {
            #expect(throws: TrainingDataError.self) { try load(text) }
            do { _ = try load(text) } catch let error as TrainingDataError {
                #expect(error.line == line && error.path == "t.jsonl", "\(text): \(error)")
            } catch { Issue.record("\(error)") }
        }
        #expect(throws: TrainingDataError(.noConversations, path: "t.jsonl")) { try load("\n \n") }
    }
}
