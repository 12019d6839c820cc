// quantize: re-quantizes a GGUF model with the SDK's ModelQuantizer and prints each tensor's choice.
//
//   swift run -c release quantize IN.gguf OUT.gguf Q4_K_M
import Foundation
import LocoLLM

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 3, let fileType = QuantizationFileType(name: arguments[2]) else {
    FileHandle.standardError.write(Data("usage: quantize IN.gguf OUT.gguf TYPE (e.g. Q4_K_M)\n".utf8))
    exit(2)
}
do {
    // Requantizing is allowed here so the example works on the default (already Q4_1) model.
    let quantizer = ModelQuantizer(recipe: QuantizationRecipe(fileType), allowRequantize: true)
    let summary = try quantizer.quantize(input: arguments[0], output: arguments[1]) { progress in
        let d = progress.decision
        print("\(d.name): \(d.from) -> \(d.to)\(d.fellBack ? " (row-length fallback)" : "")")
    }
    print("\(summary.convertedCount) of \(summary.tensorCount) tensors converted, "
        + "\(ByteFormat.string(summary.inputTensorBytes)) -> \(ByteFormat.string(summary.outputTensorBytes))")
} catch {
    FileHandle.standardError.write(Data("quantize: \(error)\n".utf8))
    exit(1)
}
