import ArgumentParser
import Foundation
import LocoLLM

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids (and pieces) of a text, with a model's tokenizer.",
        discussion: """
            Prints one token per line: its id, a tab, and its piece as a quoted string (bytes that \
            are not a whole UTF-8 character as \\xNN). With --json, prints a JSON array of ids. \
            BOS/EOS are added as the model's metadata says unless --no-add-special. Works on \
            vocabulary-only GGUF files. On an error, prints it to standard error and exits with status 1.

            With --separator, each part of the text between separators is tokenized on its own: \
            parts are printed one after another with a blank line between (with --json, an array \
            of arrays). A separator at the very end does not start an empty part.
            """
    )

    @Option(help: "The GGUF file, or a model name in the model store. Default: the default model.")
    var model: String?

    @Option(help: "The text to tokenize.")
    var text: String?

    @Option(help: "A file whose UTF-8 contents to tokenize.")
    var file: String?

    @Flag(help: "Print a JSON array of the token ids.")
    var json = false

    @Flag(help: "Match special tokens written in the text (<|im_start|>) as those tokens.")
    var special = false

    @Flag(help: "Do not add BOS/EOS even where the model asks for them.")
    var noAddSpecial = false

    @Option(help: "Tokenize each part between occurrences of this string separately.")
    var separator: String?

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text and --file") }
        if let separator, separator.isEmpty { throw ValidationError("--separator must not be empty") }
    }

    func run() throws {
        do {
            let path = try ModelStore().resolve(model)
            let tokenizer = try Tokenizer(gguf: GGUFFile(contentsOf: path))
            let input: String
            if let text {
                input = text
            } else {
                let data = try Data(contentsOf: URL(fileURLWithPath: file!))
                guard let decoded = String(data: data, encoding: .utf8) else { throw fail("\(file!): not valid UTF-8") }
                input = decoded
            }
            let parts = separator.map { Tokenize.split(input, by: $0) } ?? [input]
            let tokens = parts.map { tokenizer.encode($0, addSpecial: !noAddSpecial, parseSpecial: special) }
            if json {
                let arrays = tokens.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" }
                print(separator == nil ? arrays[0] : "[" + arrays.joined(separator: ",\n ") + "]")
            } else {
                print(tokens.map { ids in
                    ids.map { "\($0)\t\(Tokenize.quoted(tokenizer.piece($0)))" }.joined(separator: "\n")
                }.joined(separator: "\n\n"))
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }

    /// The parts of `text` between occurrences of `separator` (as llama.cpp's tokenizer tests
    /// read their `.inp` files: a separator at the end does not start an empty part).
    static func split(_ text: String, by separator: String) -> [String] {
        let bytes = Array(text.utf8), sep = Array(separator.utf8)
        var parts: [String] = []
        var start = 0, i = 0
        while i + sep.count <= bytes.count {
            if bytes[i] == sep[0] && bytes[i..<(i + sep.count)].elementsEqual(sep) {
                parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count || parts.isEmpty { parts.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return parts
    }

    /// A piece as a double-quoted string: escapes for quotes, backslashes and control characters,
    /// `\xNN` for bytes that are not a whole UTF-8 character.
    static func quoted(_ bytes: [UInt8]) -> String {
        var out = "\""
        var i = 0
        while i < bytes.count {
            let length = utf8Length(bytes, i)
            guard length > 0, let scalar = String(bytes: bytes[i..<(i + length)], encoding: .utf8)?.unicodeScalars.first else {
                out += String(format: "\\x%02X", bytes[i])
                i += 1
                continue
            }
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u{%X}", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
            i += length
        }
        return out + "\""
    }

    /// The length of the UTF-8 sequence at `i`, or 0 when it is not a whole valid one.
    private static func utf8Length(_ bytes: [UInt8], _ i: Int) -> Int {
        let lead = bytes[i]
        let length = lead < 0x80 ? 1 : lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0
        guard length > 0, i + length <= bytes.count else { return 0 }
        return String(bytes: bytes[i..<(i + length)], encoding: .utf8) == nil ? 0 : length
    }
}
