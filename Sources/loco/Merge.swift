import ArgumentParser
import Foundation
import LocoLLM

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge a LoRA adapter into its base model: a standalone GGUF for llama.cpp, Ollama or loco.",
        discussion: """
            Every matrix the adapter targets becomes W + scale * B A (scale = adapter-scale * alpha / rank). \
            Without TYPE every tensor keeps the base's type (untouched tensors are copied byte for byte, \
            merged ones quantized back to their own type). With TYPE (one of \
            \(QuantizationFileType.allCases.map(\.rawValue).joined(separator: ", "))) the merged model goes \
            through the quantizer's recipe for that file type, as `loco quantize` would. The output is written \
            atomically.
            """
    )

    @Argument(help: "The base model: a GGUF path or a model-store name.")
    var base: String

    @Argument(help: "The adapter: a GGUF LoRA file or a PEFT folder.")
    var adapter: String

    @Argument(help: "The output GGUF file (must differ from the base).")
    var output: String

    @Argument(help: "The file type to quantize the merged model to, e.g. Q4_K_M (default: keep the base's types).")
    var type: String?

    @Option(name: .customLong("adapter-scale"), help: "The user scale of the adapter (default 1).")
    var adapterScale: Float = 1

    @Flag(help: "With TYPE, allow quantizing base tensors that are already quantized to another type.")
    var allowRequantize = false

    @Option(help: "Threads for the quantizer (default: all cores).")
    var threads: Int?

    func run() throws {
        do {
            let fileType: QuantizationFileType?
            if let type {
                guard let parsed = QuantizationFileType(name: type) else {
                    throw ValidationError("unknown file type '\(type)'; expected one of \(QuantizationFileType.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                fileType = parsed
            } else {
                fileType = nil
            }
            guard adapterScale.isFinite else { throw ValidationError("--adapter-scale must be a finite number") }
            let basePath = try ModelStore().resolve(base)
            let file = try GGUFFile(contentsOf: basePath)
            let lora = try LoRAAdapter(contentsOf: adapter)
            let start = Date()
            let summary = try lora.merge(into: file, userScale: adapterScale, type: fileType, allowRequantize: allowRequantize,
                                         threads: threads, to: output)
            let seconds = Date().timeIntervalSince(start)
            let line = "merged \(adapter) into \(basePath) -> \(output) (\(fileType?.rawValue ?? "base types")): "
                + "\(summary.mergedTensors.count) of \(summary.tensorCount) tensors, scale \(summary.scale), "
                + "\(ByteFormat.string(summary.outputTensorBytes)) in \(ByteFormat.fixed(seconds, 2)) s\n"
            FileHandle.standardError.write(Data(line.utf8))
        } catch let error as ValidationError {
            throw fail(error.message)
        } catch {
            throw fail(error)
        }
    }
}
