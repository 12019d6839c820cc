import Evaluation
import Foundation
import Testing

@Suite struct SuiteTests {
    func suite(_ lines: [String]) throws(EvaluationDataError) -> EvaluationSuite {
        try EvaluationSuite(jsonl: Array(lines.joined(separator: "\n").utf8), source: "s.jsonl")
    }

    @Test func everyTypeIsRead() throws {
        let read = try suite([
            #"{"id": "n", "prompt": "2+2?", "type": "numeric", "answer": "1,200", "tolerance": 0.5}"#,
            #"{"id": 7, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}], "type": "contains", "answer": ["Paris", "paris, france"]}"#,
            "",
            #"{"id": "m", "prompt": "Q: sky?\nA:", "type": "multiple_choice", "choices": ["blue", "green"], "answer": "green"}"#,
            #"{"id": "c", "prompt": "def f():\n", "type": "code", "tests": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}"#,
        ])
        #expect(read.items.map(\.id) == ["n", "7", "m", "c"])
        #expect(read.items[0].number == 1200 && read.items[0].tolerance == 0.5)
        #expect(read.items[1].answers == ["Paris", "paris, france"])
        if case .messages(let messages) = read.items[1].prompt { #expect(messages.count == 2) } else { Issue.record("messages") }
        #expect(read.items[2].correctChoice == 1)
        #expect(read.items[3].entryPoint == "f")
        #expect(read.sha256.count == 64)
    }

    /// The first malformed line is named and nothing is returned from the file.
    @Test(arguments: [
        (#"{"id": "a", "prompt": "x", "type": "numeric"}"#, "a numeric item needs a number \"answer\""),
        (#"{"id": "a", "prompt": "x", "type": "essay", "answer": "y"}"#, "unknown type \"essay\""),
        (#"{"id": "a", "type": "exact", "answer": "y"}"#, "no \"prompt\" and no \"messages\""),
        (#"{"id": "a", "prompt": "x", "messages": [], "type": "exact", "answer": "y"}"#, "both \"prompt\" and \"messages\""),
        (#"{"id": "a", "prompt": "x", "type": "multiple_choice", "choices": ["p", "q"], "answer": 2}"#, "is not an index of the 2 choices"),
        (#"{"id": "a", "prompt": "x", "type": "multiple_choice", "choices": ["p"], "answer": 0}"#, "at least two non-empty strings"),
        (#"{"id": "a", "prompt": "x", "type": "code", "tests": "assert 1"}"#, "needs \"entry_point\""),
        (#"{"id": "a", "prompt": "x", "type": "exact", "answer": "y", "extra": 1}"#, "unknown key \"extra\""),
        (#"{"prompt": "x", "type": "exact", "answer": "y"}"#, "no \"id\""),
        ("not json", "not a JSON object"),
    ])
    func malformedLineIsNamed(_ line: String, _ message: String) {
        let good = #"{"id": "g", "prompt": "x", "type": "exact", "answer": "y"}"#
        do {
            _ = try suite([good, line, good.replacingOccurrences(of: "\"g\"", with: "\"h\"")])
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.line == 2 && error.path == "s.jsonl")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func duplicateIdsAndEmptySuitesAreRefused() {
        let item = #"{"id": "g", "prompt": "x", "type": "exact", "answer": "y"}"#
        #expect(throws: EvaluationDataError(path: "s.jsonl", line: 2, message: "the id \"g\" is used twice")) { try suite([item, item]) }
        #expect(throws: EvaluationDataError(path: "s.jsonl", line: nil, message: "the suite has no items")) { try suite(["", " "]) }
    }

    /// Upstream's order: "answer is", then \boxed{}, then after the last "=", then the last number.
    @Test(arguments: [
        ("The answer is $1,200.50 per month.", 1200.5),
        ("3 + 4 = 7, so the answer is 7 apples", 7),
        ("We get \\boxed{42} in the end, not 41", 42),
        ("x = 3 * 4 = 12 dollars", 12),
        ("She had 5 and then 8 left", 8),
        ("It drops to -4.5 degrees", -4.5),
        ("about 75% of them", 75),
        ("the range 5-3 is 2", 2),
        ("Answer is .5", 0.5),
    ] as [(String, Double)])
    func numericAnswerIsExtracted(_ reply: String, _ expected: Double) {
        #expect(AnswerExtraction.number(in: reply) == expected, "\(reply)")
    }

    @Test func noNumberAndTolerance() {
        #expect(AnswerExtraction.number(in: "I do not know") == nil)
        #expect(AnswerExtraction.matches(3.0000001, 3))
        #expect(!AnswerExtraction.matches(3.01, 3))
        #expect(AnswerExtraction.matches(3.01, 3, tolerance: 0.05))
        #expect(!AnswerExtraction.matches(nil, 3))
    }

    @Test func textIsComparedNormalized() {
        #expect(TextNormalization.exactMatch("  \"Yes.\" ", ["yes"]))
        #expect(!TextNormalization.exactMatch("Yes, I can.", ["yes"]))
        #expect(TextNormalization.containsMatch("The capital of France is   PARIS!", ["Paris"]))
        #expect(!TextNormalization.containsMatch("Lyon", ["Paris", "Marseille"]))
    }

    /// The program runs in a child process without network, with limits; a pass is exit 0.
    @Test func codeRunsIsolatedWithLimits() throws {
        guard CodeRunner.isolationWorks else {
            print("skipped: unshare -rn does not work here")
            return
        }
        let runner = CodeRunner(seconds: 3)
        let tests = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
        let pass = try runner.run(CodeRunner.program(prompt: "def add(a, b):\n", completion: "    return a + b\n", tests: tests, entryPoint: "add"))
        #expect(pass.passed, "\(pass.detail)")
        let wrong = try runner.run(CodeRunner.program(prompt: "def add(a, b):\n", completion: "    return a - b\n", tests: tests, entryPoint: "add"))
        #expect(!wrong.passed && wrong.detail.contains("AssertionError"), "\(wrong.detail)")
        #expect(!wrong.detail.contains("loco-code-"), "the temporary folder's name is not in the detail")
        let forever = try runner.run("while True:\n    pass\n")
        #expect(!forever.passed)
        let network = try runner.run("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n")
        #expect(!network.passed, "no network in the sandbox")
    }
}
