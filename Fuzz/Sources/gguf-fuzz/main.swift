import CFuzzerDriver
import Foundation

// Built with `-sanitize=fuzzer` (see Documentation/Fuzzing.md), this hands control to libFuzzer,
// which takes libFuzzer's usual arguments: `gguf-fuzz [options] CORPUS_DIR... | CRASH_FILE...`.
// Built without it, it replays the files and folders given on the command line through the same
// entry point, one by one, so a crashing input can be reproduced in an ordinary debug build.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
// A closure, not `fuzzOne` itself: taking the address of an @_cdecl function here would emit a
// second copy of its C symbol in this file.
let status = gguf_fuzz_run_driver(&argc, &argv) { data, size in fuzzOne(data, size) }
if status != -1 { exit(status) }

let arguments = CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("-") }
guard !arguments.isEmpty else {
    print("gguf-fuzz was built without libFuzzer: pass files or folders to replay, or rebuild with -sanitize=fuzzer")
    exit(2)
}
var inputs: [String] = []
for argument in arguments {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: argument, isDirectory: &isFolder) else {
        print("no such file: \(argument)")
        exit(2)
    }
    if isFolder.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
        inputs += names.sorted().map { argument + "/" + $0 }
    } else {
        inputs.append(argument)
    }
}
for path in inputs {
    guard let data = FileManager.default.contents(atPath: path) else { continue }
    let bytes = [UInt8](data)
    _ = bytes.withUnsafeBufferPointer { buffer in
        // A non-null pointer even for an empty input, as libFuzzer passes.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { one in
            fuzzOne(buffer.baseAddress ?? UnsafePointer(one.baseAddress!), buffer.count)
        }
    }
    print("ok \(path) (\(bytes.count) bytes)")
}
