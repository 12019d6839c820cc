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
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: batch)))
            let check = try GradientCheck(model: base, adapter: try LoRAAdapter(contentsOf: initial),
                                          examples: try GradientCheck.examples(batchJSON: bytes, source: batch))
            try check.write(to: out)
            print("loss \(check.loss.loss) over \(check.loss.trainedTokens) trained tokens; gradients in \(out)")
        } catch {
            throw fail(error)
        }
    }
}
