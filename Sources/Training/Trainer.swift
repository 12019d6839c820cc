import Foundation
import GGUFFormat
import Inference
import Synchronization
import Tensor
import Adapters
import LocoSupport

/// One optimizer step's figures, as the progress stream and `training-log.csv` report them.
public struct TrainingProgress: Sendable, Equatable {
    /// Steps done (1-based).
    public var step: Int
    public var totalSteps: Int
    /// Passes over the training set so far (fractional).
    public var epoch: Double
    /// Mean next-token loss of the step's trained tokens.
    public var loss: Double
    /// Mean loss over the validation set, at the steps it is computed.
    public var validationLoss: Double?
    public var learningRate: Double
    /// Global gradient norm before clipping.
    public var gradientNorm: Double
    /// Tokens (every position of the step's sequences) per second of this step.
    public var tokensPerSecond: Double
    public var elapsedSeconds: Double
    public var secondsLeft: Double
}

/// What a ``Trainer`` reports while it runs.
public enum TrainingEvent: Sendable {
    /// Training starts (or resumes after `resumedAt` steps) for `totalSteps` steps.
    case started(totalSteps: Int, resumedAt: Int)
    case step(TrainingProgress)
    case checkpoint(step: Int, path: String)
    case finished(TrainingResult)
}

/// The events of a training run (``Trainer/events()``). Asking for the next event from a
/// cancelled task ends the sequence and stops the run, even when events are waiting.
public struct TrainingEvents: AsyncSequence, Sendable {
    public typealias Element = TrainingEvent
    let stream: AsyncThrowingStream<TrainingEvent, any Error>
    let stop: StopFlag

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<TrainingEvent, any Error>.AsyncIterator
        let stop: StopFlag

        public mutating func next() async throws -> TrainingEvent? {
            if Task.isCancelled {
                stop.set()
                return nil
            }
            return try await base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator(), stop: stop) }
}

/// A flag one thread sets and another polls.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// What a finished training run produced.
public struct TrainingResult: Sendable {
    public var steps: Int
    public var finalLoss: Double
    public var validationLoss: Double?
    /// Tokens per second over the steps this run did (not counting validation).
    public var tokensPerSecond: Double
    public var seconds: Double
    public var outputFolder: String
    public var adapter: LoRAAdapter
}

/// Trains a LoRA adapter over a frozen base model (QLoRA-style: the base stays in its GGUF form)
/// with AdamW, a warm-up and cosine schedule, gradient accumulation and clipping, deterministic
/// for a seed. Writes into its output folder:
///
/// - `checkpoint.safetensors`: adapter, optimizer state, step and log, written atomically every
///   ``TrainingConfiguration/checkpointEvery`` steps; a run resumed from it ends with the same
///   adapter, bit for bit, as one never interrupted.
/// - at the end, `adapter.gguf` (llama.cpp LoRA), `adapter_config.json` +
///   `adapter_model.safetensors` (PEFT), `manifest.json` (registry manifest with the training
///   configuration and the data's SHA-256), `training-log.csv` and `loss-curve.svg`.
///
/// ```swift
/// let trainer = try Trainer(model: model, train: train, validation: validation,
///                           configuration: configuration, outputFolder: "math-adapter")
/// for try await event in trainer.events() { if case .step(let p) = event { print(p.step, p.loss) } }
/// ```
public final class Trainer: @unchecked Sendable {
    public let model: Model
    public let configuration: TrainingConfiguration
    public let outputFolder: String
    public let train: [TrainingGraph.Example]
    public let validation: [TrainingGraph.Example]
    /// Recorded in the manifest and the checkpoint: a resumed run must see the same data.
    public let datasetName: String?
    public let datasetSHA256: String?
    /// Continue from `checkpoint.safetensors` in the output folder, if there is one.
    public let resume: Bool
    public let pool: ComputePool
    /// Bytes of quantized weights kept dequantized in F32 (see ``TrainingGraph``); changes the
    /// speed and memory, never the results.
    public let floatCacheBytes: Int
    public let totalSteps: Int
    public let warmupSteps: Int

    public static let checkpointName = "checkpoint.safetensors"

    public init(model: Model, train: [TrainingGraph.Example], validation: [TrainingGraph.Example] = [],
                configuration: TrainingConfiguration, outputFolder: String, datasetName: String? = nil, datasetSHA256: String? = nil,
                resume: Bool = false, floatCacheBytes: Int = 1 << 30, pool: ComputePool = .shared) throws {
        try configuration.validate()
        guard !train.isEmpty else { throw TrainingError.invalidOption("there are no training examples") }
        for (i, example) in train.enumerated() where example.trainedCount == 0 {
            throw TrainingError.invalidExample(index: i, reason: "no token of it is trained (no assistant tokens within the maximum length)")
        }
        self.model = model
        self.configuration = configuration
        self.outputFolder = outputFolder
        self.train = train
        self.validation = validation
        self.datasetName = datasetName
        self.datasetSHA256 = datasetSHA256
        self.resume = resume
        self.pool = pool
        self.floatCacheBytes = floatCacheBytes
        let perStep = configuration.batchSize * configuration.gradientAccumulation
        totalSteps = configuration.steps ?? configuration.epochs * ((train.count + perStep - 1) / perStep)
        warmupSteps = min(totalSteps, configuration.warmupSteps ?? max(1, totalSteps / 20))
    }

    /// The learning rate of step `step` (0-based): linear warm-up to the rate over the warm-up
    /// steps (reaching it at the last), then cosine decay to zero at the last step.
    public func learningRate(step: Int) -> Double {
        let peak = Double(configuration.learningRate)
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        let decaySteps = totalSteps - warmupSteps
        guard decaySteps > 0 else { return peak }
        let progress = Double(step - warmupSteps) / Double(decaySteps)
        return peak * 0.5 * (1 + cos(Double.pi * progress))
    }

    /// The training examples of step `step`, in micro-batches: epoch `e` visits the examples in
    /// a permutation drawn from (seed, e), and steps take them in that order across epochs.
    func batches(step: Int) -> [[TrainingGraph.Example]] {
        let batch = configuration.batchSize
        return (0..<configuration.gradientAccumulation).map { micro in
            (0..<batch).map { i in
                let global = (step * configuration.gradientAccumulation + micro) * batch + i
                return train[order(epoch: global / train.count)[global % train.count]]
            }
        }
    }

    private var orders: [Int: [Int]] = [:]

    private func order(epoch: Int) -> [Int] {
        if let known = orders[epoch] { return known }
        var random = SplitMix64(seed: configuration.seed ^ (0xA5A5_0000_0000 &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        var permutation = Array(0..<train.count)
        for i in stride(from: permutation.count - 1, to: 0, by: -1) {
            permutation.swapAt(i, Int(random.next() % UInt64(i + 1)))
        }
        if orders.count > 2 { orders.removeAll() }
        orders[epoch] = permutation
        return permutation
    }

    // MARK: Running

    /// Runs training on a thread of its own (not the concurrency pool: a run is minutes of
    /// blocking work) and streams its events. Cancelling the consuming task ends the stream at
    /// the next event it asks for and stops training after the step in progress, with a
    /// checkpoint; a run that fails ends the stream with its error.
    public func events() -> TrainingEvents {
        let stop = StopFlag()
        let stream = AsyncThrowingStream<TrainingEvent, any Error> { continuation in
            let thread = Thread { [self] in
                do {
                    _ = try self.run(progress: { continuation.yield($0) }, shouldStop: { stop.isSet })
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
            continuation.onTermination = { _ in stop.set() }
        }
        return TrainingEvents(stream: stream, stop: stop)
    }

    /// Runs training to the end on the calling thread, reporting each event to `progress`.
    /// Between steps it checks for task cancellation: a cancelled run saves a checkpoint of the
    /// last step done and throws `CancellationError`. `stopAfter` ends the run early the same
    /// way after that many steps (of the whole run), as an interrupted run would end, and so
    /// does `shouldStop` returning true (checked between steps).
    @discardableResult
    public func run(stopAfter: Int? = nil, progress: (TrainingEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> TrainingResult {
        do { try FileSystem.makeAll(outputFolder) } catch { throw LoRAError(error) }
        let targets = try configuration.targetSet()
        var lora = try TrainableLoRA(model: model, targets: targets, rank: configuration.rank, alpha: configuration.alpha,
                                     seed: configuration.seed)
        let count = lora.parameters.count
        var state = OptimizerState(count: count)
        var log: [TrainingProgress] = []
        var firstStep = 0
        let checkpointPath = outputFolder + "/" + Self.checkpointName
        if resume, FileManager.default.fileExists(atPath: checkpointPath) {
            let checkpoint = try TrainingCheckpoint(contentsOf: checkpointPath)
            try checkpoint.check(configuration: configuration, datasetSHA256: datasetSHA256, parameterCount: count)
            lora.parameters = checkpoint.parameters
            state = checkpoint.optimizer
            log = checkpoint.log
            firstStep = checkpoint.step
        }
        progress(.started(totalSteps: totalSteps, resumedAt: firstStep))
        let graph = TrainingGraph(model: model, checkpointing: configuration.gradientCheckpointing, floatCacheBytes: floatCacheBytes, pool: pool)
        var gradients = [Float](repeating: 0, count: count)
        let clock = ContinuousClock()
        let start = clock.now
        var tokensDone = 0, secondsTraining = 0.0
        let elapsedBefore = log.last?.elapsedSeconds ?? 0

        func saveCheckpoint(step: Int) throws {
            try TrainingCheckpoint(step: step, parameters: lora.parameters, optimizer: state, log: log,
                                   configuration: configuration, datasetSHA256: datasetSHA256).write(to: checkpointPath)
            progress(.checkpoint(step: step, path: checkpointPath))
        }

        var step = firstStep
        while step < totalSteps {
            if Task.isCancelled || shouldStop() || stopAfter.map({ step >= $0 }) == true {
                if step > firstStep { try saveCheckpoint(step: step) }
                throw CancellationError()
            }
            let stepStart = clock.now
            let micro = batches(step: step)
            let trainedTokens = micro.joined().reduce(0) { $0 + $1.trainedCount }
            let stepTokens = micro.joined().reduce(0) { $0 + $1.tokens.count }
            for i in gradients.indices { gradients[i] = 0 }
            var lossSum = 0.0
            for (m, examples) in micro.enumerated() {
                let seed = SplitMix64.mix(configuration.seed &+ UInt64(step) &* 0x1_0000 &+ UInt64(m))
                let loss = try graph.accumulateGradients(examples, lora: lora, into: &gradients, lossScale: 1 / Float(trainedTokens),
                                                         dropout: configuration.dropout, dropoutSeed: seed)
                lossSum += loss.sum
            }
            let norm = gradients.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            if configuration.maxGradientNorm > 0, norm > Double(configuration.maxGradientNorm) {
                let factor = Float(Double(configuration.maxGradientNorm) / norm)
                for i in gradients.indices { gradients[i] *= factor }
            }
            let rate = learningRate(step: step)
            state.update(&lora.parameters, gradients: gradients, learningRate: Float(rate), configuration: configuration)
            step += 1
            let seconds = (clock.now - stepStart).seconds
            tokensDone += stepTokens
            secondsTraining += seconds

            var validationLoss: Double?
            let every = configuration.evaluateEvery
            if !validation.isEmpty, step == totalSteps || (every > 0 && step % every == 0) {
                validationLoss = try self.validationLoss(graph: graph, lora: lora)
            }
            let elapsed = elapsedBefore + (clock.now - start).seconds
            let done = step - firstStep
            let record = TrainingProgress(
                step: step, totalSteps: totalSteps,
                epoch: Double(step * configuration.batchSize * configuration.gradientAccumulation) / Double(train.count),
                loss: lossSum / Double(trainedTokens), validationLoss: validationLoss, learningRate: rate, gradientNorm: norm,
                tokensPerSecond: Double(stepTokens) / max(seconds, 1e-9), elapsedSeconds: elapsed,
                secondsLeft: (clock.now - start).seconds / Double(done) * Double(totalSteps - step))
            log.append(record)
            progress(.step(record))
            let checkpointEvery = configuration.checkpointEvery
            if step == totalSteps || (checkpointEvery > 0 && step % checkpointEvery == 0) { try saveCheckpoint(step: step) }
        }

        let adapter = try Self.adapter(lora, model: model)
        try writeOutputs(adapter: adapter, log: log)
        let result = TrainingResult(
            steps: totalSteps, finalLoss: log.last?.loss ?? 0, validationLoss: log.last(where: { $0.validationLoss != nil })?.validationLoss,
            tokensPerSecond: secondsTraining > 0 ? Double(tokensDone) / secondsTraining : 0,
            seconds: (clock.now - start).seconds, outputFolder: outputFolder, adapter: adapter)
        progress(.finished(result))
        return result
    }

    /// Mean loss over the validation set (no dropout), in batches of the batch size.
    public func validationLoss(graph: TrainingGraph, lora: TrainableLoRA) throws -> Double {
        var total = TrainingGraph.Loss()
        var start = 0
        while start < validation.count {
            let part = Array(validation[start..<min(validation.count, start + configuration.batchSize)])
            let loss = try graph.loss(part, lora: lora)
            total.sum += loss.sum
            total.tokens += loss.tokens
            start += part.count
        }
        return total.mean
    }

    /// The trained matrices as a ``LoRAAdapter`` (tensor names as in GGUF).
    public static func adapter(_ lora: TrainableLoRA, model: Model) throws -> LoRAAdapter {
        var weights: [String: LoRAWeights] = [:]
        for slot in lora.slots {
            let a = LoRAMatrix(rows: slot.rank, columns: slot.inputs, values: Array(lora.parameters[slot.offset..<slot.bOffset]))
            let b = LoRAMatrix(rows: slot.outputs, columns: slot.rank,
                               values: Array(lora.parameters[slot.bOffset..<(slot.offset + slot.count)]))
            weights["blk.\(slot.layer).\(slot.target.rawValue).weight"] = LoRAWeights(a: a, b: b)
        }
        return try LoRAAdapter(weights: weights, alpha: lora.alpha, metadata: .init(
            baseArchitecture: model.configuration.architecture.rawValue,
            name: model.file.metadata["general.name"]?.stringValue.map { "\($0) LoRA" }))
    }

    private func writeOutputs(adapter: LoRAAdapter, log: [TrainingProgress]) throws {
        try adapter.writeGGUF(to: outputFolder + "/adapter.gguf", architecture: model.configuration.architecture.rawValue)
        try adapter.writePEFT(to: outputFolder, base: model.configuration)
        var manifest = AdapterManifest(name: Self.manifestName(folder: outputFolder), description: "LoRA trained by loco train",
                                       adapter: adapter, base: model.file)
        let c = configuration
        var parameters: [String: Double] = [
            "batch_size": Double(c.batchSize), "gradient_accumulation": Double(c.gradientAccumulation),
            "max_sequence_length": Double(c.maxSequenceLength), "warmup_steps": Double(warmupSteps), "dropout": Double(c.dropout),
            "weight_decay": Double(c.weightDecay), "max_gradient_norm": Double(c.maxGradientNorm), "seed": Double(c.seed),
            "training_examples": Double(train.count), "validation_examples": Double(validation.count),
        ]
        if let last = log.last { parameters["final_loss"] = last.loss }
        if let v = log.last(where: { $0.validationLoss != nil })?.validationLoss { parameters["validation_loss"] = v }
        manifest.training = .init(dataset: datasetName, steps: totalSteps,
                                  epochs: Double(totalSteps * c.batchSize * c.gradientAccumulation) / Double(train.count),
                                  learningRate: Double(c.learningRate), trainedAt: ISO8601DateFormatter().string(from: Date()),
                                  datasetSHA256: datasetSHA256, parameters: parameters)
        for (name, text) in [("manifest.json", manifest.jsonText()), ("training-log.csv", TrainingLog.csv(log)),
                             ("loss-curve.svg", TrainingLog.svg(log))] {
            do { try AtomicFile.write(Array(text.utf8), to: outputFolder + "/" + name) } catch { throw LoRAError(error) }
        }
    }

    /// The output folder's name as a registry name (characters outside `[A-Za-z0-9._-]` become
    /// `-`), or `adapter`.
    static func manifestName(folder: String) -> String {
        let last = folder.split(separator: "/").last.map(String.init) ?? ""
        let cleaned = String(last.map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "-"
        })
        return AdapterRegistry.isValidName(cleaned) ? cleaned : "adapter"
    }
}

/// AdamW's moment estimates and step count.
struct OptimizerState: Sendable, Equatable {
    var m: [Float]
    var v: [Float]
    var t: Int

    init(count: Int) {
        m = [Float](repeating: 0, count: count)
        v = [Float](repeating: 0, count: count)
        t = 0
    }

    init(m: [Float], v: [Float], t: Int) {
        self.m = m
        self.v = v
        self.t = t
    }

    /// One AdamW step as PyTorch's `AdamW` takes it: decoupled weight decay `p -= lr wd p`,
    /// then `p -= lr m_hat / (sqrt(v_hat) + eps)` with bias-corrected moments.
    mutating func update(_ p: inout [Float], gradients g: [Float], learningRate lr: Float, configuration c: TrainingConfiguration) {
        t += 1
        let b1 = c.beta1, b2 = c.beta2
        let correction1 = Float(1 - pow(Double(b1), Double(t))), correction2 = Float(1 - pow(Double(b2), Double(t)))
        let decay = 1 - lr * c.weightDecay
        for i in p.indices {
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            let mHat = m[i] / correction1, vHat = v[i] / correction2
            p[i] = p[i] * decay - lr * mHat / (vHat.squareRoot() + c.epsilon)
        }
    }
}
