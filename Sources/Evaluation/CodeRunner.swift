import Foundation
import LocoSupport

/// Runs a code item's program (the prompt, the model's completion, the tests and
/// `check(entry_point)`) with Python in a child process: in a fresh temporary folder that is
/// removed afterwards, without network (a new network namespace through `unshare -rn`), with a
/// CPU-time, wall-time and memory limit. Exit status 0 is a pass.
public struct CodeRunner: Sendable {
    public var python: String
    public var seconds: Int
    public var memoryBytes: Int

    public init(python: String = "python3", seconds: Int = 10, memoryBytes: Int = 1 << 30) {
        self.python = python
        self.seconds = seconds
        self.memoryBytes = memoryBytes
    }

    /// What a run gave: passed, and the last lines of its output when it did not.
    public struct Outcome: Sendable, Equatable {
        public var passed: Bool
        public var detail: String
    }

    /// Why code cannot be run at all on this machine.
    public struct Unavailable: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The program HumanEval runs: prompt + completion, the tests, then the check.
    public static func program(prompt: String, completion: String, tests: String, entryPoint: String) -> String {
        prompt + completion + "\n\n" + tests + "\n\ncheck(\(entryPoint))\n"
    }

    /// Whether this machine can run code without network (checked once per process).
    public static let isolationWorks: Bool = {
        (try? launch(["unshare", "-rn", "true"], folder: nil).status) == 0
    }()

    public func run(_ program: String) throws -> Outcome {
        guard Self.isolationWorks else {
            throw Unavailable(description: "code items need a network-less sandbox and `unshare -rn` does not work here (user namespaces are off)")
        }
        let folder = NSTemporaryDirectory() + "loco-code-\(UInt64.random(in: 0...UInt64.max))"
        try FileSystem.makeAll(folder)
        defer { FileSystem.removeAll(folder) }
        try AtomicFile.write(Array(program.utf8), to: folder + "/program.py")
        // Output goes to a file of at most a megabyte or so, so a program that prints forever
        // cannot fill this process's memory.
        let limits = "ulimit -v \(memoryBytes / 1024); ulimit -t \(seconds); ulimit -f 2048; "
        let result = try Self.launch(["timeout", "-s", "KILL", "\(seconds + 2)", "unshare", "-rn", "/bin/sh", "-c",
                                      limits + "exec \(python) -I program.py > output.txt 2>&1"], folder: folder)
        let output = (try? FileSystem.read(folder + "/output.txt", limit: 4 << 20)).map { String(decoding: $0.suffix(400), as: UTF8.self) } ?? ""
        // Without the temporary folder's name, so the same failure reads the same in every run.
        let detail = result.status == 0 ? "" : (result.status == 137 ? "killed after \(seconds) s" : output + result.output)
            .replacingOccurrences(of: folder + "/", with: "")
        return Outcome(passed: result.status == 0, detail: detail)
    }

    static func launch(_ arguments: [String], folder: String?) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
