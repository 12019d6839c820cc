import ArgumentParser
import Foundation
import LocoLLM

/// `loco train-gradients`: the LoRA gradients of one batch, for checking against PyTorch + PEFT
/// (`scripts/check-training-gradients.sh`). Not shown in `loco --help`.
struct TrainGradients: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-gradients",
        abstract: "Write the LoRA gradients of one batch (for comparing with PyTorch + PEFT).",
        shouldDisplay: false)

    @Option(help: "The GGUF base model.")
    var model: String

    @Option(help: "The adapter whose gradients are wanted (a PEFT folder or a GGUF LoRA), with nonzero B.")
    var initial: String

    @Option(help: "JSON {\"tokens\": [[ids]], \"trained\": [[0|1]]}.")
    var batch: String

    @Option(help: "Output folder: the gradients as a PEFT adapter (adapter_model.safetensors) and loss.json.")
    var out: String

    func run() throws {
        do {
            let base = try Model(contentsOf: try ModelStore().resolve(model))
            let file = try LoRAAdapter(contentsOf: initial)
            try file.validate(against: base)
            let adapter = try file.inGGUFOrder(for: base.configuration)
            guard adapter.scaling == .standard else { throw ValidationError("rank-stabilized adapters are not supported here") }
            var targets = Set<AdapterSet.Target>()
            for name in adapter.targets {
                let parts = name.split(separator: ".")
                guard parts.count == 4, let target = AdapterSet.Target(rawValue: String(parts[2])) else {
                    throw ValidationError("\(name) is not a block projection")
                }
                targets.insert(target)
            }
            var lora = try TrainableLoRA(model: base, targets: targets, rank: adapter.rank, alpha: adapter.alpha, parameters: nil)
            for slot in lora.slots {
                guard let pair = adapter.weights["blk.\(slot.layer).\(slot.target.rawValue).weight"] else {
                    throw ValidationError("the adapter has no blk.\(slot.layer).\(slot.target.rawValue).weight: adapt every block alike")
                }
                lora.parameters.replaceSubrange(slot.offset..<slot.bOffset, with: pair.a.values)
                lora.parameters.replaceSubrange(slot.bOffset..<(slot.offset + slot.count), with: pair.b.values)
            }

            guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: batch))) as? [String: Any],
                  let tokens = object["tokens"] as? [[Int]], let trained = object["trained"] as? [[Int]], tokens.count == trained.count else {
                throw ValidationError("\(batch): expected {\"tokens\": [[...]], \"trained\": [[...]]} with as many rows in each")
            }
            let examples = zip(tokens, trained).map { TrainingGraph.Example(tokens: $0, trained: $1.map { $0 != 0 }) }
            let count = examples.reduce(0) { $0 + $1.trainedCount }
            var gradients = [Float](repeating: 0, count: lora.parameters.count)
            let loss = try TrainingGraph(model: base).accumulateGradients(examples, lora: lora, into: &gradients,
                                                                          lossScale: 1 / Float(max(1, count)))
            var gradientLoRA = lora
            gradientLoRA.parameters = gradients
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try Trainer.adapter(gradientLoRA, model: base).writePEFT(to: out, base: base.configuration)
            let json = "{\"loss\": \(loss.mean), \"trained_tokens\": \(loss.tokens)}\n"
            try AtomicFile.write(Array(json.utf8), to: out + "/loss.json")
            print("loss \(loss.mean) over \(loss.tokens) trained tokens; gradients in \(out)")
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
