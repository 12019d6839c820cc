import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// `loco serve` (the release build) on the default model with a registry of two adapters that
/// `loco train` makes here (math and code, a few steps each), driven by the real `openai` and
/// `ollama` Python clients (scripts/serve-clients.py) and by curl. Every reply is greedy, so the
/// server's text must equal `loco run --greedy` with the same model, adapter and prompt,
/// exactly, through every client form (chat and generate, streamed and not); and 16 streaming
/// clients at once must get the texts they get one at a time (the batched steps are
/// row-invariant).
@Suite(.serialized) struct ReleaseServerTests {
    static var releaseLoco: String {
        ProcessInfo.processInfo.environment["LOCO_RELEASE_LOCO"] ?? Repository.path(".build/release/loco")
    }
    static var available: Bool {
        let ready = Peers.defaultModel != nil && FileManager.default.isExecutableFile(atPath: releaseLoco)
        if !ready {
            print("skipped: ReleaseServerTests need the default model and .build/release/loco (scripts/test.sh builds it)")
            #expect(!Peers.required, "the default model and the release loco are required (LOCO_REQUIRE_PEERS=1)")
        }
        return ready
    }

    static let clients = Repository.path("scripts/serve-clients.py")
    static let maxTokens = 24

    /// The registry (math and code adapters trained here), made once for the suite.
    static let registry: Result<String, any Error> = Result {
        let dir = try Repository.temporaryDirectory()
        let model = Peers.defaultModel!
        let env = ["LOCO_ADAPTERS": dir + "/registry", "OPENBLAS_NUM_THREADS": "1"]
        let made = try run(releaseLoco, ["data", "math", "--out", dir + "/math", "--train", "48", "--test", "1", "--seed", "3"])
        guard made.status == 0 else { throw PeerError.failed(made.stderr) }
        let routes = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Repository.path("Data/routing/routes.json"))))
        let table = ((routes as! [String: Any])["routes"] as! [[String: Any]])
        for (name, data) in [("math", dir + "/math/train.jsonl"), ("code", Repository.path("Data/training/code.jsonl"))] {
            let trained = try run(releaseLoco, ["train", "--model", model, "--data", data, "--out", dir + "/" + name, "--steps", "3",
                                                "--batch", "2", "--rank", "4", "--targets", "q,v", "--max-seq-len", "128", "--lr", "3e-3",
                                                "--quiet"])
            guard trained.status == 0 else { throw PeerError.failed("loco train \(name): \(trained.stderr)") }
            let keywords = (table.first { $0["name"] as? String == name }?["keywords"] as? [String]) ?? []
            let added = try run(releaseLoco, ["adapters", "add", dir + "/" + name + "/adapter.gguf", "--name", name, "--base", model,
                                              "--training-data", data, "--keywords", keywords.joined(separator: ",")], environment: env)
            guard added.status == 0 else { throw PeerError.failed("adapters add \(name): \(added.stderr)") }
        }
        return dir + "/registry"
    }

    /// `loco run --greedy` of `prompt` with `adapter`: what the server must say.
    static func expected(_ prompt: String, adapter: String?, maxTokens: Int = maxTokens) throws -> String {
        let registry = try registry.get()
        let result = try run(releaseLoco, ["run", prompt, "--greedy", "--max-tokens", String(maxTokens)] + (adapter.map { ["--adapter", $0] } ?? []),
                             environment: ["LOCO_ADAPTERS": registry, "OPENBLAS_NUM_THREADS": "1"])
        guard result.status == 0 else { throw PeerError.failed("loco run: \(result.stderr)") }
        return result.stdoutText.hasSuffix("\n") ? String(result.stdoutText.dropLast()) : result.stdoutText
    }

    static func clientsRun(_ url: String, _ arguments: [String]) throws -> [String: Any] {
        let result = try run("python3", [clients, url] + arguments)
        guard result.status == 0 else { throw PeerError.failed("serve-clients.py \(arguments.first ?? ""): \(result.stderr)") }
        return try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
    }

    static func server(_ arguments: [String] = []) throws -> ServeProcess {
        try ServeProcess(releaseLoco, ["--registry", try registry.get()] + arguments, environment: ["OPENBLAS_NUM_THREADS": "1"])
    }

    @Test func everyClientFormSaysWhatLocoRunSays() throws {
        guard Self.available else { return }
        let server = try Self.server(["--parallel", "4"])
        defer { server.stop() }
        let cases: [(model: String, prompt: String, adapter: String?)] = [
            ("smollm2-135m-instruct", "What is the capital of France?", nil),
            ("math", "What is 25 percent of 240?", "math"),
            ("smollm2-135m-instruct:code", "Write a Python function that adds two numbers.", "code"),
            ("auto", "What is 25 percent of 240?", "math"),
        ]
        for (model, prompt, adapter) in cases {
            let expected = try Self.expected(prompt, adapter: adapter)
            let got = try Self.clientsRun(server.url, ["replies", "--model", model, "--prompt", prompt, "--max-tokens", String(Self.maxTokens)])
            print("serve \(model): \(expected.debugDescription)")
            for form in ["ollama_chat", "ollama_chat_stream", "ollama_generate", "ollama_generate_stream", "openai_chat", "openai_chat_stream"] {
                #expect(got[form] as? String == expected, "\(model) \(form): \(String(describing: got[form])) against loco run's \(expected.debugDescription)")
            }
            #expect(got["adapter_header"] as? String == adapter ?? "none", "\(model)")
            #expect(got["openai_adapter"] as? String == adapter, "\(model)")
            #expect(got["ollama_generate_adapter"] as? String == adapter, "\(model)")
            let usage = got["openai_usage"] as? [Any]
            #expect((usage?[1] as? Int).map { $0 >= 1 && $0 <= Self.maxTokens } == true && (usage?[0] as? Int ?? 0) > 10, "\(String(describing: usage))")
            #expect((got["openai_stream_usage"] as? [Int]) == (usage?.prefix(2).compactMap { $0 as? Int }), "\(String(describing: got["openai_stream_usage"]))")
            let counts = got["ollama_chat_counts"] as? [Any]
            #expect(counts?[0] as? Int == usage?[0] as? Int && counts?[1] as? Int == usage?[1] as? Int)
        }

        // curl: generate without streaming, and a chat completion as server-sent events.
        let generate = try Exchange.curl(server.url + "/api/generate", ["-d", #"{"model":"math","prompt":"What is 25 percent of 240?","stream":false,"options":{"temperature":0,"num_predict":24}}"#])
        let mathText = try Self.expected("What is 25 percent of 240?", adapter: "math")
        #expect(generate.status == 200 && generate.json?["response"] as? String == mathText)
        #expect(generate.json?["done"] as? Bool == true && (generate.json?["eval_count"] as? Int ?? 0) > 0 && (generate.json?["total_duration"] as? Int ?? 0) > 0)
        let events = try Exchange.curl(server.url + "/v1/chat/completions", ["-H", "content-type: application/json", "-d",
            #"{"model":"smollm2-135m-instruct","stream":true,"temperature":0,"max_tokens":24,"messages":[{"role":"user","content":"What is the capital of France?"}]}"#])
        #expect(events.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let lines = events.body.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }
        #expect(lines.last == "[DONE]")
        var text = ""
        for line in lines.dropLast() {
            let chunk = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let choice = (chunk["choices"] as! [[String: Any]])[0]
            text += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
        }
        let franceText = try Self.expected("What is the capital of France?", adapter: nil)
        #expect(text == franceText)

        // Listing, and embeddings through both clients (the OpenAI client asks for base64).
        let listing = try Self.clientsRun(server.url, ["listing"])
        #expect(listing["tags"] as? [String] == ["smollm2-135m-instruct:latest", "code", "math", "auto"], "\(listing)")
        #expect(listing["models"] as? [String] == ["smollm2-135m-instruct", "code", "math", "auto"], "\(listing)")
        #expect(listing["show_family"] as? String == "llama" && listing["show_quantization"] as? String == "Q4_1")
        let embeddings = try Self.clientsRun(server.url, ["embed", "--model", "smollm2-135m-instruct", "--text", "The cat sat on the mat."])
        let a = embeddings["ollama"] as! [Double], b = embeddings["openai_base64"] as! [Double]
        let c = embeddings["openai_float"] as! [[Double]]
        let reference = try run(Self.releaseLoco, ["embed", "--prompt", "The cat sat on the mat.", "--normalize", "--json"])
        let expectedVector = try JSONSerialization.jsonObject(with: reference.stdout) as! [Double]
        #expect(a.count == 576 && b.count == 576 && c.count == 2)
        // The same floats: base64 carries them exactly; the decimal forms round-trip a Float.
        #expect(zip(a, expectedVector).allSatisfy { abs($0 - $1) <= 1e-6 }, "ollama.embed against loco embed")
        #expect(zip(b, a).allSatisfy { abs($0 - $1) <= 1e-6 } && zip(c[1], a).allSatisfy { abs($0 - $1) <= 1e-6 })
    }

    /// Documentation/Serving.md's ```sh and ```python blocks, run as written against a server on
    /// the default model with the math and code adapters (only the address is replaced).
    @Test func servingExamplesRun() throws {
        guard Self.available else { return }
        let server = try Self.server()
        defer { server.stop() }
        let text = try String(contentsOfFile: Repository.path("Documentation/Serving.md"), encoding: .utf8)
        var blocks: [(language: String, code: String)] = []
        var current: (String, [Substring])?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let open = current {
                if line == "```" {
                    blocks.append((open.0, open.1.joined(separator: "\n")))
                    current = nil
                } else {
                    current = (open.0, open.1 + [line])
                }
            } else if line == "```sh" || line == "```python" {
                current = (String(line.dropFirst(3)), [])
            }
        }
        #expect(blocks.count == 5, "\(blocks.map(\.language))")
        for (i, block) in blocks.enumerated() {
            let code = block.code.replacingOccurrences(of: "http://127.0.0.1:11434", with: server.url)
            let result = try run(block.language == "sh" ? "bash" : "python3", ["-c", code])
            #expect(result.status == 0 && !result.stdout.isEmpty, "Serving.md block \(i + 1) (\(block.language)): \(result.stderr)")
            print("Serving.md block \(i + 1): \(result.stdoutText.prefix(300))")
        }
    }

    /// lm-evaluation-harness (`lm_eval --model local-completions`, its remote tokenizer through
    /// /tokenizer_info, /tokenize and /detokenize) scores a multiple-choice task from a local YAML
    /// over the general-knowledge suite against the server: its `acc` equals `loco eval run`'s
    /// score on the same items, with the base and with an adapter.
    @Test func lmEvaluationHarnessScoresWhatLocoEvalRunScores() throws {
        guard Self.available else { return }
        guard (try run("python3", ["-c", "import lm_eval"])).status == 0 else {
            print("skipped: lm_eval is not installed (scripts/install-peers.sh installs it)")
            #expect(!Peers.required, "lm_eval is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let server = try Self.server()
        defer { server.stop() }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let suite = Repository.path("Data/eval/general-mc.jsonl")
        let task = """
            task: loco_general_mc
            dataset_path: json
            dataset_kwargs:
              data_files:
                test: \(suite)
            test_split: test
            output_type: multiple_choice
            doc_to_text: "{{prompt}}"
            doc_to_choice: "{{choices}}"
            doc_to_target: "{{answer}}"
            metric_list:
              - metric: acc
            """
        try task.write(toFile: dir + "/loco_general_mc.yaml", atomically: true, encoding: .utf8)
        for (model, adapter) in [("smollm2-135m-instruct", nil as String?), ("math", "math")] {
            let local = try run(Self.releaseLoco, ["eval", "run", "--suite", suite, "--json"] + (adapter.map { ["--adapter", $0] } ?? []),
                                environment: ["LOCO_ADAPTERS": try Self.registry.get(), "OPENBLAS_NUM_THREADS": "1"])
            try #require(local.status == 0, "loco eval run: \(local.stderr)")
            let localJSON = try JSONSerialization.jsonObject(with: local.stdout) as! [String: Any]
            let localScore = localJSON["score"] as! Double
            // Read with the SDK's JSON, which keeps each number's text (Foundation's parser may
            // round the last bit).
            var localLikelihoods: [String: [Double]] = [:]
            if case .object(let report) = try JSONParser.parse(Array(local.stdout)), case .array(let items)? = report["items"] {
                for case .object(let item) in items {
                    guard let id = item["id"]?.string, case .array(let values)? = item["loglikelihoods"] else { continue }
                    localLikelihoods[id] = values.compactMap { if case .number(let text) = $0 { Double(text) } else { nil } }
                }
            }
            let out = dir + "/out-\(model)"
            let harness = try run("python3", [
                "-m", "lm_eval", "--model", "local-completions",
                "--model_args", "model=\(model),base_url=\(server.url)/v1/completions,tokenizer_backend=remote,tokenized_requests=True,num_concurrent=1,max_retries=1",
                "--tasks", "loco_general_mc", "--include_path", dir, "--output_path", out, "--log_samples",
            ], environment: ["HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"])
            try #require(harness.status == 0, "lm_eval: \(harness.stderr.suffix(3000))")
            let files = FileManager.default.enumerator(atPath: out)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".json") || $0.hasSuffix(".jsonl") } ?? []
            let results = try #require(files.first { $0.contains("results_") }, "no results file under \(out)")
            // Item by item, choice by choice: the harness's sums of the server's log-probabilities
            // are loco eval run's log-likelihoods, to the last bit.
            let samples = try #require(files.first { $0.contains("samples_") })
            var compared = 0
            for line in try String(contentsOfFile: out + "/" + samples, encoding: .utf8).split(separator: "\n") {
                let sample = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                let id = (sample["doc"] as! [String: Any])["id"] as! String
                let theirs = (sample["filtered_resps"] as! [[Any]]).map { Double("\($0[0])")! }
                #expect(theirs == localLikelihoods[id], "\(model) \(id): lm_eval \(theirs) against loco eval run \(localLikelihoods[id] ?? [])")
                compared += 1
            }
            #expect(compared == 24)
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/" + results))) as! [String: Any]
            let accuracy = ((json["results"] as! [String: Any])["loco_general_mc"] as! [String: Any])["acc,none"] as! Double
            print("lm_eval acc \(model): \(accuracy), loco eval run: \(localScore)")
            #expect(abs(accuracy - localScore) < 1e-9, "\(model): lm_eval \(accuracy) against loco eval run \(localScore)")
        }
    }

    /// 16 streaming clients at once, over three adapters and the base, on 8 slots (8 wait in the
    /// queue): each gets the text it gets alone. Then a client that hangs up frees its slot.
    @Test func sixteenConcurrentClientsGetTheirAloneTexts() throws {
        guard Self.available else { return }
        let server = try Self.server(["--parallel", "8", "--max-queue", "16"])
        defer { server.stop() }
        let prompts = ["What is 25 percent of 240?", "Write a Python function that adds two numbers.", "What is the capital of France?",
                       "Name three colours.", "What is 7 times 8?", "How do I sort a list in Python?", "Tell me a fact about the Moon.",
                       "What is 12 plus 30?"]
        let models = ["smollm2-135m-instruct", "math", "code", "smollm2-135m-instruct:math"]
        var jobs: [[String: String]] = []
        for i in 0..<16 { jobs.append(["model": models[i % models.count], "prompt": prompts[(i * 3) % prompts.count]]) }
        let file = NSTemporaryDirectory() + "loco-serve-jobs-\(UUID().uuidString).json"
        try JSONSerialization.data(withJSONObject: jobs).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let got = try Self.clientsRun(server.url, ["concurrent", "--jobs", file, "--max-tokens", "32"])
        let together = got["together"] as! [String], alone = got["alone"] as! [String]
        #expect(together.count == 16)
        for i in 0..<16 { #expect(together[i] == alone[i], "job \(i) (\(jobs[i]))") }
        // Replies differ between adapters, so the comparison above can fail.
        #expect(Set(together).count >= 4)

        let left = try Self.clientsRun(server.url, ["disconnect", "--model", "smollm2-135m-instruct", "--prompt", "Tell me a long story."])
        #expect(left["chunks"] as? Int == 3)
        var running = -1
        for _ in 0..<600 {
            running = try Exchange.curl(server.url + "/health").json?["running"] as? Int ?? -1
            if running == 0 { break }
            usleep(100_000)
        }
        #expect(running == 0, "the hung-up reply still runs")
        let metrics = try Exchange.curl(server.url + "/metrics").body
        #expect(metrics.contains("loco_cancelled_requests_total 1"), "\(metrics)")
        #expect(metrics.contains("loco_generated_tokens_total"))
    }

    /// A full queue answers 503 with Retry-After; bad requests answer 4xx with a JSON error, and
    /// the server keeps serving; an API key guards every route but /health.
    @Test func limitsBadRequestsAndTheKey() throws {
        guard Self.available else { return }
        let server = try Self.server(["--parallel", "1", "--max-queue", "1", "--api-key", "sesame", "--max-predict", "4000"])
        defer { server.stop() }
        let auth = ["-H", "authorization: Bearer sesame"]
        #expect(try Exchange.curl(server.url + "/health").status == 200)
        #expect(try Exchange.curl(server.url + "/api/tags").status == 401)
        #expect(try Exchange.curl(server.url + "/v1/models", ["-H", "authorization: Bearer wrong"]).status == 401)
        #expect(try Exchange.curl(server.url + "/v1/models", auth).status == 200)

        func post(_ path: String, _ body: String) throws -> Exchange {
            try Exchange.curl(server.url + path, auth + ["-H", "content-type: application/json", "-d", body])
        }
        let bad: [(String, String, Int, String)] = [
            ("/api/chat", "{not json", 400, "not valid JSON"),
            ("/api/chat", #"{"model":"nope","messages":[{"role":"user","content":"hi"}]}"#, 404, "not found"),
            ("/api/generate", #"{"model":"../../etc/passwd","prompt":"hi"}"#, 404, "not found"),
            ("/api/generate", #"{"model":"smollm2-135m-instruct:../math","prompt":"hi"}"#, 404, "not found"),
            ("/api/generate", #"{"model":"smollm2-135m-instruct","prompt":"hi","options":{"temperature":"hot"}}"#, 400, "options.temperature"),
            ("/api/generate", #"{"model":"smollm2-135m-instruct","prompt":"hi","options":{"mirostat":2}}"#, 400, "mirostat"),
            ("/api/generate", #"{"model":"smollm2-135m-instruct","prompt":"hi","options":{"num_predict":100000}}"#, 400, "at most 4000"),
            ("/api/generate", #"{"model":"smollm2-135m-instruct","prompt":"hi","options":{"num_ctx":999999}}"#, 400, "num_ctx"),
            ("/v1/chat/completions", #"{"model":"smollm2-135m-instruct","messages":"hi"}"#, 400, "messages"),
            ("/v1/chat/completions", #"{"model":"smollm2-135m-instruct","messages":[{"role":"user","content":"hi"}],"n":3}"#, 400, "`n`"),
            ("/v1/completions", #"{"model":"smollm2-135m-instruct","prompt":[1,2,99999999]}"#, 400, "vocabulary"),
        ]
        for (path, body, status, words) in bad {
            let answer = try post(path, body)
            #expect(answer.status == status && answer.body.contains(words), "\(path) \(body): \(answer.status) \(answer.body)")
            #expect(answer.json?["error"] != nil, "a JSON error body: \(answer.body)")
        }
        let large = NSTemporaryDirectory() + "loco-serve-large-\(UUID().uuidString).json"
        try Data((#"{"model":"smollm2-135m-instruct","prompt":""# + String(repeating: "x", count: 5 << 20) + #""}"#).utf8)
            .write(to: URL(fileURLWithPath: large))
        defer { try? FileManager.default.removeItem(atPath: large) }
        #expect(try post("/api/generate", "@" + large).status == 413)

        // One reply runs, one waits, the third is refused.
        // ignore_eos: the replies run until their clients go, however fast or slow the machine.
        let long = #"{"model":"smollm2-135m-instruct","stream":true,"max_tokens":3000,"ignore_eos":true,"messages":[{"role":"user","content":"Tell me a very long story."}]}"#
        let streams = (0..<2).map { _ -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["curl", "-sS", "-N", "--max-time", "300", server.url + "/v1/chat/completions", "-H", "authorization: Bearer sesame",
                           "-H", "content-type: application/json", "-d", long]
            p.standardOutput = FileHandle.nullDevice
            try? p.run()
            return p
        }
        // Generous waits: under a loaded CI machine every step is slow; each loop ends as soon
        // as what it waits for happens.
        var waiting = 0
        for _ in 0..<600 {
            let health = try Exchange.curl(server.url + "/health").json
            waiting = health?["waiting"] as? Int ?? 0
            if waiting == 1 && health?["running"] as? Int == 1 { break }
            usleep(100_000)
        }
        #expect(waiting == 1)
        let refused = try post("/v1/chat/completions", long)
        #expect(refused.status == 503 && refused.headers["retry-after"] == "1", "\(refused.status) \(refused.body)")
        // SIGKILL: a signal the test process blocks would be blocked in its children too.
        for p in streams { kill(p.processIdentifier, SIGKILL) }
        // The server keeps serving once the hung-up replies are gone.
        var served = false
        var seen: [String] = []
        for _ in 0..<300 {
            let ok = try post("/api/generate", #"{"model":"smollm2-135m-instruct","prompt":"Say hi.","stream":false,"options":{"num_predict":4}}"#)
            if ok.status == 200 { served = ok.json?["done"] as? Bool == true; break }
            seen.append("\(ok.status) \(ok.body.prefix(120))")
            usleep(200_000)
        }
        #expect(served, "\(seen.suffix(5))")
    }
}
