/// Why an evaluation set cannot be read, naming the file, the 1-based line and what was wrong.
public struct EvaluationDataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file, when the set came from one.
    public var path: String?
    /// The 1-based line, when the error is about one line.
    public var line: Int?
    public var message: String

    public init(path: String?, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    /// `path:line: message`, with the parts that are known.
    public var description: String {
        var location = path ?? ""
        if let line { location += (location.isEmpty ? "line " : ":") + "\(line)" }
        return (location.isEmpty ? "" : location + ": ") + message
    }
}
