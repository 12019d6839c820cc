import Adapters
import Foundation
import Inference
import LocoSupport

/// The LoRA gradients of one batch for a given adapter, for checking this SDK's backward against
/// PyTorch + PEFT (`loco train-gradients`, scripts/check-training-gradients.sh): the gradients are
/// written as a PEFT adapter whose factors are dA and dB, beside `loss.json`.
///
/// ```swift
/// let check = try GradientCheck(model: base, adapter: try LoRAAdapter(contentsOf: "initial"),
///                               examples: try GradientCheck.examples(batchJSON: bytes, source: "batch.json"))
/// try check.write(to: "out")
/// ```
public struct GradientCheck: Sendable {
    /// The batch's mean loss over its trained tokens, as `loss.json` holds it
    /// (`{"loss": ..., "trained_tokens": ...}`, the keys scripts/train_peer.py writes too).
    public struct Loss: Sendable, Equatable, Codable {
        public var loss: Double
        public var trainedTokens: Int

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case loss
            case trainedTokens = "trained_tokens"
        }

        public init(loss: Double, trainedTokens: Int) {
            self.loss = loss
            self.trainedTokens = trainedTokens
        }
    }

    public let loss: Loss
    /// dLoss/dA and dLoss/dB in the layout of the adapter's factors (the loss is the mean over
    /// the batch's trained tokens).
    public let gradients: TrainableLoRA
    public let model: Model

    /// Runs `examples` through `model` with `adapter` (standard scaling, the same projections
    /// in every block) and keeps the gradients of the mean loss.
    public init(model: Model, adapter: LoRAAdapter, examples: [TrainingGraph.Example]) throws {
        let lora = try TrainableLoRA(model: model, adapter: adapter)
        let count = examples.reduce(0) { $0 + $1.trainedCount }
        var gradients = [Float](repeating: 0, count: lora.parameters.count)
        let loss = try TrainingGraph(model: model).accumulateGradients(examples, lora: lora, into: &gradients,
                                                                       lossScale: 1 / Float(max(1, count)))
        var gradientLoRA = lora
        gradientLoRA.parameters = gradients
        self.model = model
        self.gradients = gradientLoRA
        self.loss = Loss(loss: loss.mean, trainedTokens: loss.tokens)
    }

    /// A batch file `{"tokens": [[ids]], "trained": [[0|1]]}` with as many rows in each.
    public static func examples(batchJSON bytes: [UInt8], source: String) throws -> [TrainingGraph.Example] {
        let expected = "{\"tokens\": [[...]], \"trained\": [[...]]} with as many rows in each"
        guard case .object(let object)? = try? JSONParser.parse(bytes),
              let tokens = rows(object["tokens"]), let trained = rows(object["trained"]), tokens.count == trained.count else {
            throw TrainingError.invalidOption("\(source): expected \(expected)")
        }
        return zip(tokens, trained).map { TrainingGraph.Example(tokens: $0, trained: $1.map { $0 != 0 }) }
    }

    /// An array of arrays of non-negative integers, or nil.
    private static func rows(_ value: JSONValue?) -> [[Int]]? {
        guard case .array(let rows)? = value else { return nil }
        var result: [[Int]] = []
        for row in rows {
            guard case .array(let items) = row else { return nil }
            let values = items.compactMap(\.nonNegativeInteger)
            guard values.count == items.count else { return nil }
            result.append(values)
        }
        return result
    }

    /// Writes the gradients as a PEFT adapter (adapter_config.json, adapter_model.safetensors)
    /// and `loss.json` into `folder` (created if missing), each file atomically.
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Trainer.adapter(gradients, model: model).writePEFT(to: folder, base: model.configuration)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(loss)) + [0x0A], to: folder + "/loss.json")
    }
}

extension TrainableLoRA {
    /// The factors of `adapter` (checked against `model`, in GGUF order) as trainable
    /// parameters. The adapter must use standard scaling (alpha / rank) and adapt the same
    /// block projections in every block.
    public init(model: Model, adapter file: LoRAAdapter) throws {
        try file.validate(against: model)
        let adapter = try file.inGGUFOrder(for: model.configuration)
        guard adapter.scaling == .standard else { throw TrainingError.invalidOption("rank-stabilized adapters are not supported here") }
        var targets = Set<AdapterSet.Target>()
        for name in adapter.targets {
            let parts = name.split(separator: ".")
            guard parts.count == 4, let target = AdapterSet.Target(rawValue: String(parts[2])) else {
                throw TrainingError.invalidOption("\(name) is not a block projection")
            }
            targets.insert(target)
        }
        try self.init(model: model, targets: targets, rank: adapter.rank, alpha: adapter.alpha, parameters: nil)
        for slot in slots {
            guard let pair = adapter.weights["blk.\(slot.layer).\(slot.target.rawValue).weight"] else {
                throw TrainingError.invalidOption("the adapter has no blk.\(slot.layer).\(slot.target.rawValue).weight: adapt every block alike")
            }
            parameters.replaceSubrange(slot.offset..<slot.bOffset, with: pair.a.values)
            parameters.replaceSubrange(slot.bOffset..<(slot.offset + slot.count), with: pair.b.values)
        }
    }
}
