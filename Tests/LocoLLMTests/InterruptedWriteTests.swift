import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// SIGINT and SIGTERM in the middle of every kind of write `loco` makes (a GGUF from quantize and
/// merge, a training checkpoint, data sets) leave neither the output nor a temporary behind, and
/// the process still ends by the signal. `LOCO_TEST_COMMIT_DELAY_MS` holds each commit back with
/// the temporary complete on disk, so the signal always lands inside a write.
@Suite(.serialized) struct InterruptedWriteTests {
    let loco = Repository.productsDirectory + "/loco"

    /// Files under `folder` (recursively) named like the SDK's temporaries.
    private func temporaries(_ folder: String) -> [String] {
        let names = FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? []
        return names.filter { ($0.split(separator: "/").last ?? "").hasPrefix(".") && $0.contains(".tmp-") }
    }

    /// Starts `loco` as a terminal would: every signal at its default action and none blocked
    /// (the test runner's threads block signals, and a shell's background jobs ignore SIGINT; a
    /// child would inherit both).
    private func spawn(_ arguments: [String], log: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var environment = ProcessInfo.processInfo.environment
        environment["LOCO_TEST_COMMIT_DELAY_MS"] = "15000"
        environment["OPENBLAS_NUM_THREADS"] = "1"
        let argv = ([loco] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, loco, &actions, &attributes, argv, envp)
        guard status == 0 else { throw CocoaError(.executableLoad) }
        return pid
    }

    /// Runs `loco arguments`, waits until a temporary (one whose name contains `waitingFor`, when
    /// given) exists under `folder`, sends `signal`, and checks the aftermath.
    private func interrupt(_ arguments: [String], watching folder: String, waitingFor marker: String? = nil, with signal: Int32,
                           absent outputs: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ready = { self.temporaries(folder).contains { marker == nil || $0.contains(marker!) } }
        let log = folder + "/stderr-\(arguments[0]).txt"
        let pid = try spawn(arguments, log: log)
        var status: Int32 = 0
        var exited = false
        let deadline = Date().addingTimeInterval(300)
        while !ready() && Date() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                exited = true
                break
            }
            usleep(20_000)
        }
        guard !exited, ready() else {
            if !exited {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
            }
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            Issue.record("loco \(arguments[0]) made no temporary to interrupt: \(text)", sourceLocation: sourceLocation)
            return
        }
        kill(pid, signal)
        waitpid(pid, &status, 0)
        // Ended by the signal itself (WIFSIGNALED, WTERMSIG), as it would have without the cleanup.
        #expect(status & 0x7f == signal, "wait status \(status)", sourceLocation: sourceLocation)
        #expect(temporaries(folder).isEmpty, "left behind: \(temporaries(folder))", sourceLocation: sourceLocation)
        for output in outputs {
            #expect(!FileManager.default.fileExists(atPath: output), "\(output) exists", sourceLocation: sourceLocation)
        }
    }

    @Test func quantizeAndMerge() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = try RandomModels.path("llama-f32")
        try interrupt(["quantize", base, dir + "/q.gguf", "Q8_0", "--quiet"], watching: dir, with: SIGINT, absent: [dir + "/q.gguf"])

        guard Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "python3 with gguf is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let adapter = dir + "/lora"
        let made = try run("python3", [Repository.path("scripts/make-lora-fixtures.py"), base, adapter,
                                       "--rank", "2", "--alpha", "4", "--seed", "1", "--targets", "attn_q,ffn_down"])
        try #require(made.status == 0, "\(made.stderr)")
        try interrupt(["merge", base, adapter + "/adapter.gguf", dir + "/merged.gguf"], watching: dir, with: SIGTERM,
                      absent: [dir + "/merged.gguf"])
        // To a file type: an F32 scratch model is written first, then quantized; interrupted in
        // the second stage, both the scratch model and the output's temporary go.
        try interrupt(["merge", base, adapter + "/adapter.gguf", dir + "/merged-q8.gguf", "Q8_0"], watching: dir,
                      waitingFor: ".merged-q8.gguf.tmp-", with: SIGINT, absent: [dir + "/merged-q8.gguf"])
    }

    @Test func trainingCheckpointAndDataSets() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try interrupt(["data", "math", "--out", dir + "/math", "--train", "20", "--test", "5"], watching: dir, with: SIGINT,
                      absent: [dir + "/math/train.jsonl", dir + "/math/test.jsonl"])

        // Pre-tokenized lines for the random model; the first write of the run is the step-1 checkpoint.
        let base = try RandomModels.path("llama-f32")
        var lines = ""
        for i in 0..<8 {
            let tokens = (0..<12).map { ($0 * 7 + i * 3) % 200 + 1 }
            lines += "{\"tokens\": \(tokens), \"trained\": \((0..<12).map { $0 >= 6 ? 1 : 0 })}\n"
        }
        try lines.write(toFile: dir + "/tokens.jsonl", atomically: true, encoding: .utf8)
        let out = dir + "/trained"
        try interrupt(["train", "--model", base, "--data", dir + "/tokens.jsonl", "--out", out, "--steps", "4", "--batch", "2",
                       "--rank", "2", "--checkpoint-every", "1", "--threads", "1"],
                      watching: dir, with: SIGTERM, absent: [out + "/checkpoint.safetensors", out + "/adapter.gguf"])
    }
}
