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

    /// Gemma 3 270M (Q4_K_M, `scripts/fetch-model.sh gemma3-270m`) when it is in the store.
    public static var gemmaModel: String? { try? ModelStore().resolve("gemma-3-270m-q4_k_m.gguf") }

    /// Whether `python3 -c "import MODULE"` succeeds (for `llama_cpp`: and the build for the
    /// running kernel set is at hand, see ``llamaCppLibraryPath``).
    public static func pythonHas(_ module: String) -> Bool {
        if module == "llama_cpp", let path = llamaCppLibraryPath, !FileManager.default.fileExists(atPath: path + "/libggml-cpu.so") {
            return false
        }
        return (try? run("python3", ["-c", "import \(module)"]).status) == 0
    }

    /// The kernel set this test process runs, which the `loco` it starts inherits (through
    /// `LOCO_CPU_FEATURES`): expectations are chosen from it, never from the machine's name.
    public static var kernelSet: KernelSet { KernelSet.running }

    /// The folder of the llama.cpp build the Python peers load (`LLAMA_CPP_LIB_PATH`, passed to
    /// every command ``run(_:_:environment:)`` starts), or nil for llama-cpp-python's own build.
    /// `scripts/install-peers.sh` builds llama.cpp for what the CPU has; when that is AVX-512 and
    /// this process runs the AVX2 kernels (`LOCO_CPU_FEATURES=avx2`), the peer is the AVX2 build
    /// it puts beside it, so that the two compare like with like.
    public static let llamaCppLibraryPath: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["LLAMA_CPP_LIB_PATH"], !explicit.isEmpty { return explicit }
        guard KernelSet.running == .avx2, KernelSet.detected == .avx512 else { return nil }
        return avx2Library
    }()

    /// The folder of a llama.cpp build for `set` (`avx2` or `avx512`) when one is installed:
    /// llama-cpp-python's own where the CPU's best set is `set`, the AVX2 build beside it where
    /// the CPU has AVX-512. For tests that check both orders in one process.
    public static func llamaCppLibrary(for set: KernelSet) -> String? {
        let own: String? = {
            let result = try? run("python3", ["-c", "import os, importlib.util as u; s = u.find_spec('llama_cpp'); "
                                              + "print(os.path.join(os.path.dirname(s.origin), 'lib') if s and s.origin else '')"],
                                  environment: ["LLAMA_CPP_LIB_PATH": "unused"])
            let path = result?.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return path.isEmpty ? nil : path
        }()
        let path: String?
        switch (set, KernelSet.detected) {
        case (.avx512, .avx512), (.avx2, .avx2): path = own
        case (.avx2, .avx512): path = avx2Library
        default: path = nil
        }
        guard let path, FileManager.default.fileExists(atPath: path + "/libggml-cpu.so") else { return nil }
        return path
    }

    /// Where `scripts/install-peers.sh` puts the AVX2 build on an AVX-512 machine.
    static var avx2Library: String {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        let peers = environment["LOCO_PEERS"] ?? (cache + "/locollm/peers")
        return peers + "/llama-cpp-python-0.3.36-avx2/lib"
    }

    /// Whether `--numerics llama-cpp` must be bit-identical with the peer: the running kernels
    /// are an x86 set whose ggml order is reproduced (AVX2 or AVX-512) and the peer was built for
    /// that same set. Otherwise (scalar, NEON) results are held to llama.cpp's own spread.
    public static var llamaCppOrderIsExact: Bool { kernelSet == .avx2 || kernelSet == .avx512 }
}

/// The result of running a command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: String

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs `executable` (looked up on PATH unless it contains a slash) and waits for it, in
/// `directory` when given (else the test's working directory).
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                directory: String? = nil) throws -> CommandResult {
    let process = Process()
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if executable.contains("/") {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
    } else {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
    }
    var childEnvironment = environment ?? [:]
    if let library = Peers.llamaCppLibraryPath, childEnvironment["LLAMA_CPP_LIB_PATH"] == nil {
        childEnvironment["LLAMA_CPP_LIB_PATH"] = library
    }
    if !childEnvironment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(childEnvironment) { _, new in new }
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
