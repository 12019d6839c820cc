import ArgumentParser
import Foundation
import LocoLLM

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a GGUF model to another file type, as llama-quantize does.",
        discussion: """
            TYPE is one of: \(QuantizationFileType.allCases.map(\.rawValue).joined(separator: ", ")) \
            (also Q3_K, Q4_K, Q5_K for the _M recipes). The output is written atomically; \
            progress goes to standard error.
            """
    )

    @Argument(help: "The input GGUF model.")
    var input: String

    @Argument(help: "The output GGUF file (must differ from the input).")
    var output: String

    @Argument(help: "The file type to produce, e.g. Q4_K_M.")
    var type: String

    @Flag(help: "Allow quantizing tensors that are already quantized (dequantize, then quantize).")
    var allowRequantize = false

    @Flag(help: "Give every quantizable tensor the file type's default type (no mixed recipe).")
    var pure = false

    @Option(help: "Threads to use (default: all cores).")
    var threads: Int?

    @Flag(help: "Print only the summary.")
    var quiet = false

    func run() throws {
        do {
            guard let fileType = QuantizationFileType(name: type) else {
                throw ValidationError("unknown file type '\(type)'; expected one of \(QuantizationFileType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let quantizer = ModelQuantizer(recipe: QuantizationRecipe(fileType, pure: pure), allowRequantize: allowRequantize, threads: threads)
            let start = Date()
            let quiet = self.quiet
            let summary = try quantizer.quantize(input: input, output: output) { p in
                guard !quiet else { return }
                let d = p.decision
                let line = String(format: "[%4d/%4d] %-36@ %6@ -> %-6@ %10@ -> %@\n", p.tensorIndex, p.tensorCount,
                                  d.name as NSString, d.from.name as NSString, d.to.name as NSString,
                                  ByteFormat.string(p.inputBytes) as NSString, ByteFormat.string(p.outputBytes) as NSString)
                FileHandle.standardError.write(Data(line.utf8))
            }
            let seconds = Date().timeIntervalSince(start)
            print("""
                quantized \(input) -> \(output) (\(fileType.rawValue))
                tensors: \(summary.tensorCount), converted \(summary.convertedCount), row-length fallbacks \(summary.fallbackCount)
                size: \(ByteFormat.string(summary.inputTensorBytes)) -> \(ByteFormat.string(summary.outputTensorBytes)) in \(ByteFormat.fixed(seconds, 2)) s
                """)
        } catch let error as ValidationError {
            throw fail(error.message)
        } catch {
            throw fail(error)
        }
    }
}
