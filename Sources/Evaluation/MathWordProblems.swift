import Inference
import LocoSupport

/// One arithmetic word problem: the question, a worked solution ending `The answer is N.`, and N.
public struct MathProblem: Sendable, Hashable, Codable {
    public var question: String
    public var solution: String
    public var answer: Int

    public init(question: String, solution: String, answer: Int) {
        self.question = question
        self.solution = solution
        self.answer = answer
    }

    /// The problem as one line of chat JSONL: the question as the user turn, the solution as the
    /// assistant turn, no system message. With `includeAnswer`, an `"answer": N` key follows
    /// `messages` (training loaders ignore it; `loco eval math --data` reads it).
    ///
    /// ```
    /// {"messages":[{"role":"user","content":"..."},{"role":"assistant","content":"... The answer is 17."}]}
    /// ```
    public func chatJSONLine(includeAnswer: Bool = false) -> String {
        let turn = { (role: String, content: String) in JSONValue.object(JSONObject([("role", .string(role)), ("content", .string(content))])) }
        var members: [(String, JSONValue)] = [("messages", .array([turn("user", question), turn("assistant", solution)]))]
        if includeAnswer { members.append(("answer", .number(String(answer)))) }
        return JSONWriter.encode(.object(JSONObject(members)), pretty: false)
    }
}

/// A generated set of two- and three-step arithmetic word problems with exact answers.
///
/// Fourteen kinds of story (apples in bags, pages read per day, savings, change after shopping,
/// cookies shared equally, empty chairs, bus passengers, ...) mix `+`, `-`, `x` and exact
/// division over small numbers. Every answer is an integer from 0 to 500, and every
/// intermediate result is a non-negative integer. Solutions have one fixed shape: each step
/// written as `a op b = c`, then `The answer is N.`:
///
/// ```
/// Mia has 5 apples. She buys 3 bags with 4 apples in each bag. How many apples does she have now?
/// She buys 3 bags of 4 apples: 3 x 4 = 12. She had 5, so 5 + 12 = 17. The answer is 17.
/// ```
///
/// The same seed gives the same problems on every platform (the SDK's own `SplitMix64`, not the
/// system generator).
public enum MathWordProblems {
    /// `count` distinct problems for `seed`.
    public static func generate(count: Int, seed: UInt64) -> [MathProblem] {
        var random = SplitMix64(seed: seed)
        var seen = Set<String>()
        return distinct(count: count, random: &random, excluding: &seen)
    }

    /// A training set and a test set that shares no question with it. The test set is
    /// `generate(count: testCount, seed: seed)`; the training set comes from a stream derived
    /// from the same seed, skipping any question already drawn.
    public static func trainAndTest(trainCount: Int, testCount: Int, seed: UInt64) -> (train: [MathProblem], test: [MathProblem]) {
        var testRandom = SplitMix64(seed: seed)
        var seen = Set<String>()
        let test = distinct(count: testCount, random: &testRandom, excluding: &seen)
        var trainRandom = SplitMix64(seed: seed ^ 0x5452_4149_4E53_4554)
        let train = distinct(count: trainCount, random: &trainRandom, excluding: &seen)
        return (train, test)
    }

    /// Problems whose question is not in `seen`, adding each one's question to it.
    private static func distinct(count: Int, random: inout SplitMix64, excluding seen: inout Set<String>) -> [MathProblem] {
        var problems: [MathProblem] = []
        problems.reserveCapacity(max(0, count))
        while problems.count < count {
            let problem = next(&random)
            if seen.insert(problem.question).inserted { problems.append(problem) }
        }
        return problems
    }

    /// One problem from a story chosen at random.
    static func next(_ random: inout SplitMix64) -> MathProblem {
        let story = stories[random.int(0...(stories.count - 1))]
        let person = people[random.int(0...(people.count - 1))]
        var other = people[random.int(0...(people.count - 1))]
        while other.name == person.name { other = people[random.int(0...(people.count - 1))] }
        return story(&random, person, other)
    }

    struct Person {
        var name: String
        /// "she" or "he".
        var pronoun: String
        var subject: String { pronoun.prefix(1).uppercased() + pronoun.dropFirst() }
    }

    static let people: [Person] = [
        Person(name: "Mia", pronoun: "she"), Person(name: "Liam", pronoun: "he"), Person(name: "Ava", pronoun: "she"),
        Person(name: "Noah", pronoun: "he"), Person(name: "Zoe", pronoun: "she"), Person(name: "Omar", pronoun: "he"),
        Person(name: "Priya", pronoun: "she"), Person(name: "Lucas", pronoun: "he"), Person(name: "Hana", pronoun: "she"),
        Person(name: "Diego", pronoun: "he"), Person(name: "Emma", pronoun: "she"), Person(name: "Kofi", pronoun: "he"),
        Person(name: "Sara", pronoun: "she"), Person(name: "Ben", pronoun: "he"), Person(name: "Lena", pronoun: "she"),
        Person(name: "Ravi", pronoun: "he"),
    ]

    typealias Story = @Sendable (inout SplitMix64, Person, Person) -> MathProblem

    static let stories: [Story] = [
        { r, p, _ in
            let had = r.int(2...30), bags = r.int(2...9), per = r.int(2...12)
            let bought = bags * per, total = had + bought
            return MathProblem(
                question: "\(p.name) has \(had) apples. \(p.subject) buys \(bags) bags with \(per) apples in each bag. How many apples does \(p.pronoun) have now?",
                solution: "\(p.subject) buys \(bags) bags of \(per) apples: \(bags) x \(per) = \(bought). \(p.subject) had \(had), so \(had) + \(bought) = \(total). The answer is \(total).",
                answer: total)
        },
        { r, p, _ in
            let perDay = r.int(5...30), days = r.int(2...7), left = r.int(3...60)
            let read = perDay * days, pages = read + left
            return MathProblem(
                question: "A book has \(pages) pages. \(p.name) reads \(perDay) pages every day for \(days) days. How many pages are left to read?",
                solution: "In \(days) days \(p.pronoun) reads \(days) x \(perDay) = \(read) pages. \(pages) - \(read) = \(left). The answer is \(left).",
                answer: left)
        },
        { r, p, _ in
            let weekly = r.int(3...25), weeks = r.int(2...10)
            let saved = weekly * weeks, spent = r.int(1...saved), left = saved - spent
            let item = ["book", "game", "jacket", "bike helmet", "lamp", "backpack"][r.int(0...5)]
            return MathProblem(
                question: "\(p.name) saves \(weekly) dollars every week for \(weeks) weeks. Then \(p.pronoun) spends \(spent) dollars on a \(item). How many dollars does \(p.pronoun) have left?",
                solution: "\(p.subject) saves \(weeks) x \(weekly) = \(saved) dollars. After the \(item), \(saved) - \(spent) = \(left). The answer is \(left).",
                answer: left)
        },
        { r, p, _ in
            let count = r.int(2...6), price = r.int(2...9), pen = r.int(1...5)
            let notebooks = count * price, total = notebooks + pen
            let bills = [10, 20, 50, 100].filter { $0 >= total }
            let bill = bills[r.int(0...(bills.count - 1))], change = bill - total
            return MathProblem(
                question: "\(p.name) buys \(count) notebooks that cost \(price) dollars each and a pen that costs \(pen) dollars. \(p.subject) pays with a \(bill)-dollar bill. How much change does \(p.pronoun) get?",
                solution: "The notebooks cost \(count) x \(price) = \(notebooks) dollars. With the pen, \(notebooks) + \(pen) = \(total). The change is \(bill) - \(total) = \(change). The answer is \(change).",
                answer: change)
        },
        { r, p, _ in
            let friends = r.int(2...8), each = r.int(2...12), eaten = r.int(1...15)
            let rest = friends * each, baked = rest + eaten
            return MathProblem(
                question: "\(p.name) bakes \(baked) cookies and eats \(eaten) of them. \(p.subject) shares the rest equally among \(friends) friends. How many cookies does each friend get?",
                solution: "After eating \(eaten), \(baked) - \(eaten) = \(rest) cookies are left. Each friend gets \(rest) / \(friends) = \(each). The answer is \(each).",
                answer: each)
        },
        { r, _, _ in
            let rows = r.int(3...12), perRow = r.int(4...15), extra = r.int(2...20)
            let inRows = rows * perRow, chairs = inRows + extra, seated = r.int(1...chairs), empty = chairs - seated
            return MathProblem(
                question: "A hall has \(rows) rows of \(perRow) chairs. The staff bring in \(extra) more chairs. Then \(seated) people sit down, one on each chair. How many chairs are empty?",
                solution: "The rows hold \(rows) x \(perRow) = \(inRows) chairs. With the extra chairs, \(inRows) + \(extra) = \(chairs). Empty chairs: \(chairs) - \(seated) = \(empty). The answer is \(empty).",
                answer: empty)
        },
        { r, _, _ in
            let start = r.int(10...40), off = r.int(1...start), on = r.int(1...20), more = r.int(1...15)
            let afterOff = start - off, afterOn = afterOff + on, total = afterOn + more
            return MathProblem(
                question: "A bus leaves the station with \(start) passengers. At the first stop \(off) people get off and \(on) get on. At the second stop \(more) more people get on. How many passengers are on the bus now?",
                solution: "After the first stop, \(start) - \(off) = \(afterOff) and \(afterOff) + \(on) = \(afterOn). After the second stop, \(afterOn) + \(more) = \(total). The answer is \(total).",
                answer: total)
        },
        { r, p, _ in
            let rows = r.int(2...6), plants = r.int(2...8), per = r.int(2...9)
            let all = rows * plants, tomatoes = all * per
            return MathProblem(
                question: "\(p.name) plants \(rows) rows of tomato plants with \(plants) plants in each row. Each plant gives \(per) tomatoes. How many tomatoes does \(p.pronoun) pick?",
                solution: "There are \(rows) x \(plants) = \(all) plants. They give \(all) x \(per) = \(tomatoes) tomatoes. The answer is \(tomatoes).",
                answer: tomatoes)
        },
        { r, p, _ in
            let pizzas = r.int(2...8), slices = [6, 8, 10, 12][r.int(0...3)]
            let total = pizzas * slices, eaten = r.int(1...total), left = total - eaten
            return MathProblem(
                question: "\(p.name) orders \(pizzas) pizzas, each cut into \(slices) slices. The family eats \(eaten) slices. How many slices are left?",
                solution: "There are \(pizzas) x \(slices) = \(total) slices. \(total) - \(eaten) = \(left). The answer is \(left).",
                answer: left)
        },
        { r, p, _ in
            let bags = r.int(2...9), each = r.int(2...20), given = r.int(1...30)
            let rest = bags * each, marbles = rest + given
            return MathProblem(
                question: "\(p.name) has \(marbles) marbles. \(p.subject) gives \(given) marbles to a friend and puts the rest into \(bags) bags with the same number in each bag. How many marbles are in each bag?",
                solution: "\(marbles) - \(given) = \(rest) marbles are left. \(rest) / \(bags) = \(each). The answer is \(each).",
                answer: each)
        },
        { r, p, _ in
            let weekday = r.int(1...6), saturday = r.int(2...12), weeks = r.int(2...4)
            let weekdays = 5 * weekday, week = weekdays + saturday, total = week * weeks
            return MathProblem(
                question: "\(p.name) runs \(weekday) kilometers on each of the 5 weekdays and \(saturday) kilometers on Saturday. How many kilometers does \(p.pronoun) run in \(weeks) weeks?",
                solution: "On weekdays \(p.pronoun) runs 5 x \(weekday) = \(weekdays) kilometers. With Saturday, \(weekdays) + \(saturday) = \(week) kilometers a week. In \(weeks) weeks, \(week) x \(weeks) = \(total). The answer is \(total).",
                answer: total)
        },
        { r, p, q in
            let stickers = r.int(3...40), factor = r.int(2...5)
            let times = ["twice", "three times", "four times", "five times"][factor - 2]
            let others = stickers * factor, together = stickers + others
            return MathProblem(
                question: "\(p.name) has \(stickers) stickers. \(q.name) has \(times) as many stickers as \(p.name). How many stickers do they have together?",
                solution: "\(q.name) has \(stickers) x \(factor) = \(others) stickers. Together, \(stickers) + \(others) = \(together). The answer is \(together).",
                answer: together)
        },
        { r, _, _ in
            let carton = [6, 12][r.int(0...1)], perDayCartons = r.int(1...4), days = r.int(2...7)
            let eggsPerDay = carton * perDayCartons, eggs = eggsPerDay * days, cartons = eggs / carton
            return MathProblem(
                question: "The hens on a farm lay \(eggsPerDay) eggs a day. After \(days) days the farmer packs all the eggs into cartons of \(carton). How many cartons does the farmer fill?",
                solution: "In \(days) days the hens lay \(days) x \(eggsPerDay) = \(eggs) eggs. \(eggs) / \(carton) = \(cartons). The answer is \(cartons).",
                answer: cartons)
        },
        { r, _, _ in
            let adultPrice = r.int(8...20), childPrice = r.int(3...10), adults = r.int(1...4), children = r.int(1...5)
            let adultCost = adults * adultPrice, childCost = children * childPrice, total = adultCost + childCost
            return MathProblem(
                question: "Museum tickets cost \(adultPrice) dollars for an adult and \(childPrice) dollars for a child. How many dollars does a group of \(adults) adults and \(children) children pay?",
                solution: "The adults pay \(adults) x \(adultPrice) = \(adultCost). The children pay \(children) x \(childPrice) = \(childCost). In all, \(adultCost) + \(childCost) = \(total). The answer is \(total).",
                answer: total)
        },
    ]
}

extension SplitMix64 {
    /// A number in `range` (modulo bias below 2^-50 for the small ranges used here).
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
}

extension MathWordProblems {
    /// Writes `problems` as chat JSONL to `path`, one ``MathProblem/chatJSONLine(includeAnswer:)``
    /// per line, atomically (what `loco data math` writes as train.jsonl and, with the answers, test.jsonl).
    public static func writeChatJSONL(_ problems: [MathProblem], to path: String, includeAnswer: Bool = false) throws {
        let text = problems.map { $0.chatJSONLine(includeAnswer: includeAnswer) + "\n" }.joined()
        try AtomicFile.write(Array(text.utf8), to: path)
    }

    /// Writes `problems` as a numeric evaluation suite (see ``EvaluationSuite``) to `path`,
    /// atomically: ids `math-1`, `math-2`, ..., each question a user turn, its answer exact.
    public static func writeSuite(_ problems: [MathProblem], to path: String) throws {
        let text = problems.enumerated().map { index, problem in
            JSONWriter.encode(.object(JSONObject([("id", .string("math-\(index + 1)")), ("prompt", .string(problem.question)),
                                                  ("type", .string("numeric")), ("answer", .number(String(problem.answer)))])),
                              pretty: false) + "\n"
        }.joined()
        try AtomicFile.write(Array(text.utf8), to: path)
    }
}
