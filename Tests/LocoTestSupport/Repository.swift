import Foundation
import LocoLLM

/// Paths inside this repository, found from this file's location.
public enum Repository {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static func path(_ relative: String) -> String { root + "/" + relative }

    /// The committed GGUF fixtures written by gguf-py (`scripts/make-gguf-fixtures.py`).
    public static let ggufFixtures = path("Tests/GGUFFormatTests/Fixtures")

    public static func ggufFixture(_ name: String) -> String { ggufFixtures + "/" + name }

    /// The folder where built products (the `loco` executable, examples) are.
    public static let productsDirectory: String = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.pathExtension == "xctest" || url.lastPathComponent == "MacOS" || url.lastPathComponent == "Contents" {
            url.deleteLastPathComponent()
        }
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("loco").path) { return url.path }
        return url.deletingLastPathComponent().path
    }()

    /// A fresh temporary folder, removed by the caller with `removeItem`.
    public static func temporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loco-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }
}

/// Whether tests that need the peers (python3 with gguf, llama-cpp-python, the default model) must
/// run: `scripts/test.sh` and CI set `LOCO_REQUIRE_PEERS=1`, turning a missing peer into a failure
/// instead of a skipped check.
public enum Peers {
    public static var required: Bool { ProcessInfo.processInfo.environment["LOCO_REQUIRE_PEERS"] == "1" }

    /// The default model's path when it is in the store.
    public static var defaultModel: String? { try? ModelStore().resolve(nil) }

    /// Whether `python3 -c "import MODULE"` succeeds.
    public static func pythonHas(_ module: String) -> Bool {
        (try? run("python3", ["-c", "import \(module)"]).status) == 0
    }
}

/// The result of running a command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: String

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs `executable` (looked up on PATH unless it contains a slash) and waits for it.
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
    let process = Process()
    if executable.contains("/") {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
    } else {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
    }
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes while the process runs, so a large output cannot block it.
    let errorData = LockedData()
    let errThread = Thread { errorData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    errThread.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errorData.isSet { usleep(1000) }
    return CommandResult(status: process.terminationStatus, stdout: stdout, stderr: String(decoding: errorData.value, as: UTF8.self))
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var done = false
    func set(_ d: Data) { lock.withLock { data = d; done = true } }
    var isSet: Bool { lock.withLock { done } }
    var value: Data { lock.withLock { data } }
}
