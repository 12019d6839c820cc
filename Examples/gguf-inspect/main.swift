// gguf-inspect: prints a GGUF file's metadata and tensors, using the SDK's GGUF reader.
//
//   swift run gguf-inspect path/to/model.gguf [--json]
import Foundation
import LocoLLM

let arguments = Array(CommandLine.arguments.dropFirst())
let json = arguments.contains("--json")
let paths = arguments.filter { $0 != "--json" }

do {
    let path = try ModelStore().resolve(paths.first)
    let report = ModelReport(file: try GGUFFile(contentsOf: path))
    print(json ? try report.renderJSON() : report.renderText())
} catch {
    FileHandle.standardError.write(Data("gguf-inspect: \(error)\n".utf8))
    exit(1)
}
