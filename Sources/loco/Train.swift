import ArgumentParser
import Foundation
import LocoLLM
import Synchronization

/// Set by Ctrl-C during `loco train`: stop after the step in progress, with a checkpoint.
let trainingStopRequested = Atomic<Bool>(false)

/// `loco train`: trains a LoRA adapter on JSONL chat data over a frozen (quantized) base.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a LoRA adapter on JSONL chat data over a frozen quantized model.",
        discussion: """
            Each line of --data is {"messages":[{"role":"user","content":...},{"role":"assistant","content":...}]} \
            (or {"conversations":[...]}); the loss counts only the assistant tokens. Already tokenized data \
            ({"tokens":[ids],"trained":[0|1,...]} per line) is used as it is. The output folder gets \
            adapter.gguf (llama.cpp), adapter_config.json + adapter_model.safetensors (PEFT), manifest.json, \
            training-log.csv, loss-curve.svg and checkpoint.safetensors (--resume continues from it).
            """)

    @Option(help: "The GGUF base model, or a name in the model store. Default: the default model.")
    var model: String?

    @Option(help: "JSONL chat training data.")
    var data: String

    @Option(help: ArgumentHelp(chatTemplateHelp, valueName: "name"))
    var chatTemplate: String?

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "LoRA rank.")
    var rank = 16

    @Option(help: "LoRA alpha (scale = alpha / rank).")
    var alpha: Float = 32

    @Option(help: "LoRA dropout on each adapted projection's input.")
    var dropout: Float = 0.05

    @Option(help: "Adapted projections, comma-separated: attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down (or q,k,v,o,gate,up,down; 'attention', 'mlp', 'all').")
    var targets = "attention"

    @Option(help: "Passes over the training data (when --steps is not given).")
    var epochs = 1

    @Option(help: "Optimizer steps (overrides --epochs).")
    var steps: Int?

    @Option(help: "Peak learning rate.")
    var lr: Float = 2e-4

    @Option(help: "Warm-up steps (default: 5% of the steps).")
    var warmup: Int?

    @Option(help: "AdamW weight decay.")
    var weightDecay: Float = 0

    @Option(help: "Clip the global gradient norm to this (0: off).")
    var maxGradNorm: Float = 1

    @Option(help: "Sequences per forward pass.")
    var batch = 4

    @Option(help: "Forward passes per optimizer step.")
    var gradAccum = 1

    @Option(help: "Cut longer conversations to this many tokens.")
    var maxSeqLen = 512

    @Option(help: "Seed of the adapter's initial values, the data order and dropout.")
    var seed: UInt64 = 0

    @Option(help: "Part of the data held out for the validation loss.")
    var valFraction = 0.05

    @Option(help: "Steps between validation losses (0: at the end only).")
    var evalEvery = 50

    @Option(help: "Steps between checkpoints (0: at the end only).")
    var checkpointEvery = 50

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "Megabytes of quantized weights kept dequantized in F32 for speed (0: dequantize as needed). Never changes results.")
    var floatCacheMb = 1024

    @Flag(help: "Recompute each block's activations in the backward (less memory, about a third more time).")
    var gradientCheckpointing = false

    @Flag(help: "Continue from the output folder's checkpoint.")
    var resume = false

    @Flag(help: "Print one JSON object at the end (tokens_per_second, peak_rss_bytes, losses, ...) instead of the summary.")
    var json = false

    @Flag(help: "Print no per-step lines.")
    var quiet = false

    /// `--targets` as GGUF projection names (``TrainingConfiguration/targets(parsing:)``).
    static func parseTargets(_ text: String) throws -> [String] {
        do {
            return try TrainingConfiguration.targets(parsing: text)
        } catch {
            throw ValidationError("--targets names no projection")
        }
    }

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        _ = try Self.parseTargets(targets)
    }

    func run() throws {
        var configuration = TrainingConfiguration()
        configuration.rank = rank
        configuration.alpha = alpha
        configuration.dropout = dropout
        configuration.targets = try Self.parseTargets(targets)
        configuration.epochs = epochs
        configuration.steps = steps
        configuration.learningRate = lr
        configuration.warmupSteps = warmup
        configuration.weightDecay = weightDecay
        configuration.maxGradientNorm = maxGradNorm
        configuration.batchSize = batch
        configuration.gradientAccumulation = gradAccum
        configuration.maxSequenceLength = maxSeqLen
        configuration.seed = seed
        configuration.validationFraction = valFraction
        configuration.evaluateEvery = evalEvery
        configuration.checkpointEvery = checkpointEvery
        configuration.gradientCheckpointing = gradientCheckpointing

        do {
            try configuration.validate()
            let path = try ModelStore().resolve(model)
            let base = try Model(contentsOf: path)
            let template = try chatTemplate.map { try ChatTemplate(named: $0, gguf: base.file) }
            let trainingData = try TrainingData(contentsOf: data, model: base, maxSequenceLength: maxSeqLen,
                                                validationFraction: valFraction, seed: seed, template: template)
            let examples = trainingData.trainingExamples, held = trainingData.validationExamples
            let pool = ComputePool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            let trainer = try Trainer(model: base, train: examples, validation: held, configuration: configuration, outputFolder: out,
                                      datasetName: trainingData.name, datasetSHA256: trainingData.sha256,
                                      resume: resume, floatCacheBytes: floatCacheMb << 20, pool: pool)
            let tokens = trainingData.trainingTokens, truncated = trainingData.truncatedCount
            if !json {
                emit("model    \(path)")
                emit("data     \(data): \(examples.count) training, \(held.count) validation conversations, \(tokens) training tokens"
                      + (truncated > 0 ? ", \(truncated) cut to \(maxSeqLen) tokens" : ""))
                emit("adapter  rank \(rank), alpha \(alpha), dropout \(dropout), \(configuration.targets.joined(separator: ","))")
                emit("steps    \(trainer.totalSteps) of \(batch) x \(gradAccum) sequences, lr \(lr), warm-up \(trainer.warmupSteps), threads \(pool.threadCount)")
            }
            signal(SIGINT) { _ in trainingStopRequested.store(true, ordering: .relaxed) }
            var result: TrainingResult?
            try trainer.run(progress: { event in
                switch event {
                case .started(let total, let resumedAt) where resumedAt > 0 && !json:
                    emit("resuming at step \(resumedAt) of \(total)")
                case .step(let p) where !json && !quiet:
                    let validation = p.validationLoss.map { String(format: "  val %.4f", $0) } ?? ""
                    emit(String(format: "step %5d/%d  loss %.4f", p.step, p.totalSteps, p.loss) + validation
                          + String(format: "  lr %.2e  |g| %.3f  %.0f tok/s  ", p.learningRate, p.gradientNorm, p.tokensPerSecond)
                          + Self.duration(p.secondsLeft) + " left")
                case .finished(let r):
                    result = r
                default:
                    break
                }
            }, shouldStop: { trainingStopRequested.load(ordering: .relaxed) })
            guard let result else { throw ExitCode(1) }
            let summary = TrainingSummary(result: result, configuration: configuration, trainingExamples: examples.count,
                                          threads: pool.threadCount)
            if json {
                emit(try summary.jsonText())
            } else {
                emit("done     \(result.steps) steps in \(Self.duration(result.seconds)), "
                      + String(format: "%.0f tokens/s, final loss %.4f", result.tokensPerSecond, result.finalLoss)
                      + (result.validationLoss.map { String(format: ", validation loss %.4f", $0) } ?? "")
                      + ", peak memory \(ByteFormat.string(summary.peakRSSBytes))")
                emit("wrote    \(out)/adapter.gguf, adapter_model.safetensors, manifest.json, training-log.csv, loss-curve.svg")
            }
        } catch is CancellationError {
            throw fail("training stopped; the checkpoint of the last step is in \(out) (continue with --resume)")
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }

    /// Writes `line` to standard output at once (unbuffered), so each step shows up as it ends
    /// also when the output goes to a file or a pipe.
    func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
