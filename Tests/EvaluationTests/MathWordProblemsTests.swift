import Foundation
@testable import Evaluation
import GGUFFormat
import Inference
import LocoTestSupport
import Testing
import Tokenization

/// The generated math set (determinism, exact answers, disjoint train and test), answer
/// extraction, the JSONL round trip and the evaluation runner.
@Suite struct MathWordProblemsTests {
    /// Checks every `a op b = c` step of a solution and returns the last result.
    private func recompute(_ problem: MathProblem, sourceLocation: SourceLocation = #_sourceLocation) -> Int? {
        let step = /(\d+) ([x+\-\/]) (\d+) = (\d+)/
        var last: Int?
        var steps = 0
        for match in problem.solution.matches(of: step) {
            let a = Int(match.1)!, b = Int(match.3)!, c = Int(match.4)!
            let value: Int? = switch match.2 {
            case "x": a * b
            case "+": a + b
            case "-": a - b
            default: b != 0 && a % b == 0 ? a / b : nil
            }
            #expect(value == c, "wrong step \(match.0) in: \(problem.solution)", sourceLocation: sourceLocation)
            last = c
            steps += 1
        }
        #expect((2...3).contains(steps), "\(steps) steps in: \(problem.solution)", sourceLocation: sourceLocation)
        return last
    }

    @Test func answersAreExactAndMatchTheWorkedSolution() {
        let problems = MathWordProblems.generate(count: 2000, seed: 1)
        #expect(problems.count == 2000)
        #expect(Set(problems.map(\.question)).count == 2000)
        for problem in problems {
            #expect((0...500).contains(problem.answer), "answer out of range: \(problem)")
            #expect(recompute(problem) == problem.answer, "\(problem)")
            #expect(problem.solution.hasSuffix("The answer is \(problem.answer)."))
            #expect(MathWordProblems.extractAnswer(from: problem.solution) == problem.answer)
        }
    }

    @Test func everyStoryIsUsed() {
        #expect(MathWordProblems.stories.count >= 10)
        // The final question sentence, with numbers, names and pronouns blanked, tells the stories apart.
        let names = MathWordProblems.people.map(\.name)
        let shapes = Set(MathWordProblems.generate(count: 1000, seed: 3).map { problem -> String in
            var sentence = String(problem.question.split(separator: ".").last!)
            for name in names { sentence = sentence.replacingOccurrences(of: name, with: "@") }
            return sentence.replacing(/\d+/, with: "#").replacing(/\b(she|he)\b/, with: "@")
        })
        #expect(shapes.count == MathWordProblems.stories.count, "\(shapes.sorted())")
    }

    @Test func theSameSeedGivesTheSameProblems() {
        #expect(MathWordProblems.generate(count: 50, seed: 42) == MathWordProblems.generate(count: 50, seed: 42))
        #expect(MathWordProblems.generate(count: 50, seed: 42) != MathWordProblems.generate(count: 50, seed: 43))
        // A longer set starts with the shorter one.
        #expect(Array(MathWordProblems.generate(count: 80, seed: 42).prefix(50)) == MathWordProblems.generate(count: 50, seed: 42))
        // Pinned, so a change to the generator (which would change every set) is noticed.
        #expect(MathWordProblems.generate(count: 1, seed: 1)[0] == MathProblem(
            question: "Lucas has 89 marbles. He gives 9 marbles to a friend and puts the rest into 5 bags with the same number in each bag. How many marbles are in each bag?",
            solution: "89 - 9 = 80 marbles are left. 80 / 5 = 16. The answer is 16.",
            answer: 16))
    }

    @Test func testQuestionsNeverAppearInTraining() {
        let (train, test) = MathWordProblems.trainAndTest(trainCount: 3000, testCount: 300, seed: 5)
        #expect(train.count == 3000 && test.count == 300)
        #expect(Set(train.map(\.question)).isDisjoint(with: test.map(\.question)))
        #expect(Set(train.map(\.question)).count == 3000)
        #expect(test == MathWordProblems.generate(count: 300, seed: 5))
        let again = MathWordProblems.trainAndTest(trainCount: 3000, testCount: 300, seed: 5)
        #expect(again.train == train && again.test == test)
    }

    @Test(arguments: [
        ("She had 5, so 5 + 12 = 17. The answer is 17.", 17),
        ("The answer is $1,200.", 1200),
        ("the answer is: 42", 42),
        ("THE ANSWER IS **36**.", 36),
        ("The answer is 12. No wait, the answer is 15.", 15),
        ("The answer is 7.0", 7),
        ("so 5 + 12 = 17 apples", 17),
        ("The answer is forty. 3 x 4 = 12", 12),
        ("It is 8-3 now", 3),
        ("It dropped to -5 degrees", -5),
        ("1,234,567 grains", 1_234_567),
    ] as [(String, Int)])
    func extractsTheStatedAnswer(text: String, expected: Int) {
        #expect(MathWordProblems.extractAnswer(from: text) == expected)
    }

    @Test func noAnswerWhenThereIsNoWholeNumber() {
        #expect(MathWordProblems.extractAnswer(from: "") == nil)
        #expect(MathWordProblems.extractAnswer(from: "I do not know.") == nil)
        #expect(MathWordProblems.extractAnswer(from: "3 x 4 = 12. The answer is 2.5.") == nil)
        #expect(MathWordProblems.extractAnswer(from: "99999999999999999999999") == nil)
    }

    @Test func chatLinesRoundTrip() throws {
        var problems = MathWordProblems.generate(count: 20, seed: 9)
        problems.append(MathProblem(question: "Quote \" and \\ and\nnewline\tand é and \u{1}?", solution: "The answer is 3.", answer: 3))
        let line = problems[0].chatJSONLine()
        #expect(line.hasPrefix(#"{"messages":[{"role":"user","content":""#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["messages"])

        let withAnswers = problems.map { $0.chatJSONLine(includeAnswer: true) }.joined(separator: "\n") + "\n"
        #expect(try MathWordProblems.problems(jsonl: Array(withAnswers.utf8), source: nil) == problems)
        // Without the answer key, the answer is read from the solution.
        let plain = problems.map { $0.chatJSONLine() }.joined(separator: "\n")
        #expect(try MathWordProblems.problems(jsonl: Array(plain.utf8), source: nil) == problems)
    }

    @Test func malformedEvaluationLinesNameTheirLine() {
        let good = MathWordProblems.generate(count: 1, seed: 1)[0].chatJSONLine(includeAnswer: true)
        for bad in ["{", #"{"messages": 3}"#, #"{"messages": [{"role": "assistant", "content": "x"}]}"#,
                    #"{"messages": [{"role": "user", "content": "q"}], "answer": "seven"}"#,
                    #"{"messages": [{"role": "user", "content": "q"}]}"#] {
            #expect(throws: EvaluationDataError.self) {
                do {
                    _ = try MathWordProblems.problems(jsonl: Array((good + "\n\n" + bad + "\n").utf8), source: "test.jsonl")
                } catch let error as EvaluationDataError {
                    #expect(error.line == 3 && error.path == "test.jsonl", "\(error)")
                    throw error
                }
            }
        }
    }

    @Test func evaluationRunsGreedilyAndScoresEachReply() throws {
        let file = try GGUFFile(contentsOf: RandomModels.path("llama-f32"))
        let model = try Model(file: file)
        let tokenizer = try Tokenizer(gguf: file)
        let template = ChatTemplate.custom(.init(
            turns: [.user: .init(prefix: "<|im_start|>user\n", suffix: "<|im_end|>\n"),
                    .assistant: .init(prefix: "<|im_start|>assistant\n", suffix: "<|im_end|>\n")],
            generationPrompt: "<|im_start|>assistant\n"))
        let problems = MathWordProblems.generate(count: 3, seed: 2)
        let evaluation = MathEvaluation(model: model, tokenizer: tokenizer, template: template, maxTokens: 6)
        var seen: [Int] = []
        let result = try evaluation.run(problems) { index, _ in seen.append(index) }
        #expect(seen == [0, 1, 2])
        #expect(result.total == 3)
        #expect(result.items.map(\.question) == problems.map(\.question))
        #expect(result.items.map(\.expected) == problems.map(\.answer))
        for item in result.items {
            #expect((1...6).contains(item.generatedTokens))
            #expect(item.extracted == MathWordProblems.extractAnswer(from: item.output))
            #expect(item.correct == (item.extracted == item.expected))
        }
        #expect(result.correct == result.items.filter(\.correct).count)
        #expect(result.accuracy == Double(result.correct) / 3)
        #expect(result.generatedTokens == result.items.reduce(0) { $0 + $1.generatedTokens })
        #expect(result.seconds > 0)
        // Greedy: the same run gives the same replies.
        #expect(try evaluation.run(problems).items == result.items)
    }
}
