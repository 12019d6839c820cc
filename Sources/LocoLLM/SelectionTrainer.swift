import Foundation

/// The quick adapter of a base-model selection (``BaseModelSelection``), trained with the
/// `Training` target: the same data and recipe on every candidate, rendered with each
/// candidate's own chat template and tokenizer. Training is deterministic (seeded), so a
/// selection started again trains the same adapter and its suite runs continue.
public struct SelectionTrainer: QuickAdapterTrainer {
    /// Chat JSONL.
    public var data: String
    public var configuration: TrainingConfiguration
    /// The loss whose first step at or below it is reported.
    public var targetLoss: Double
    public var pool: ComputePool

    /// A recipe meant to finish in minutes on a laptop: rank 8 on the attention projections,
    /// 30 steps of 4 sequences of at most 256 tokens at learning rate 1e-3, no validation split.
    public init(data: String, targetLoss: Double, steps: Int = 30, pool: ComputePool = .shared) {
        self.data = data
        self.targetLoss = targetLoss
        self.pool = pool
        var c = TrainingConfiguration()
        c.rank = 8
        c.alpha = 16
        c.steps = steps
        c.learningRate = 1e-3
        c.batchSize = 4
        c.maxSequenceLength = 256
        c.validationFraction = 0
        c.evaluateEvery = 0
        c.checkpointEvery = 0
        configuration = c
    }

    public func train(model: Model, path: String, template: ChatTemplate?, folder: String) throws -> QuickAdapter {
        let trainingData = try TrainingData(contentsOf: data, model: model, maxSequenceLength: configuration.maxSequenceLength,
                                            validationFraction: 0, seed: configuration.seed, template: template)
        let trainer = try Trainer(model: model, train: trainingData.trainingExamples, configuration: configuration, outputFolder: folder,
                                  datasetName: trainingData.name, datasetSHA256: trainingData.sha256, pool: pool)
        var losses: [Double] = []
        let started = Date()
        let result = try trainer.run(progress: { event in
            if case .step(let p) = event { losses.append(p.loss) }
        })
        let adapterPath = result.outputFolder + "/adapter.gguf"
        let bytes = (try? FileManager.default.attributesOfItem(atPath: adapterPath)[.size] as? Int) ?? 0
        return QuickAdapter(losses: losses, stepsToTarget: losses.firstIndex { $0 <= targetLoss }.map { $0 + 1 },
                            finalLoss: result.finalLoss, adapterPath: adapterPath, adapterBytes: bytes,
                            seconds: Date().timeIntervalSince(started))
    }
}
