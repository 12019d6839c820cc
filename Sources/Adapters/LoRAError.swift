import LocoSupport
/// Why an adapter cannot be loaded, used with a base model, or exported, naming the file, the
/// tensor and what was expected.
///
/// A malformed container throws its own error first: `GGUFError` for a GGUF file,
/// ``SafeTensorsError`` for a safetensors file. `LoRAError` is about what the container holds.
public struct LoRAError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        // The file as a whole
        /// A GGUF file whose `general.type` is not `adapter` (a model, say); `found` describes
        /// the value, nil when absent.
        case notAnAdapter(found: String?)
        /// `adapter.type` is not `lora` (a control vector, say).
        case notLoRA(found: String?)
        case missingKey(String)
        /// A metadata or `adapter_config.json` value of the wrong type or out of range.
        case invalidValue(key: String, value: String, expected: String)
        /// `adapter_config.json` is not JSON or not an object.
        case invalidConfig(String)
        /// A PEFT option this SDK does not run (DoRA, fan-in-fan-out, per-module ranks, ...).
        case unsupportedOption(key: String, value: String, reason: String)
        /// A file a PEFT folder must hold.
        case missingFile(String)
        /// An adapter with no A/B pairs.
        case noTargets

        // Tensors
        /// A tensor whose name is not part of a LoRA pair this SDK understands.
        case unexpectedTensor(tensor: String, reason: String)
        case unsupportedTensorType(tensor: String, type: String)
        /// A or B is not a matrix, or has an empty dimension. `shape` is as stored in the file.
        case notAMatrix(tensor: String, shape: [Int])
        /// One half of a pair without the other; `missing` names the absent tensor.
        case missingHalf(target: String, missing: String)
        /// A's rows (its rank) differ from B's columns. Shapes are rows x columns.
        case rankMismatch(target: String, a: [Int], b: [Int])
        /// A pair whose rank differs from the adapter's other pairs.
        case mixedRanks(target: String, rank: Int, expected: Int)
        /// A pair whose rank differs from `r` in `adapter_config.json`.
        case configRankMismatch(target: String, rank: Int, configured: Int)

        // Against a base
        case architectureMismatch(adapter: String, base: String?)
        case targetNotInBase(target: String, hint: String?)
        /// The adapter's A (`a`, rows x columns) and B (`b`) need a base tensor of ggml shape
        /// `expected`; the base's is `base`.
        case shapeMismatch(target: String, a: [Int], b: [Int], expected: [Int], base: [Int])

        // Export
        /// A target with no name in the export format (a PEFT export of a tensor PEFT cannot name).
        case unmappableTarget(target: String, format: String)
        /// Exporting to GGUF needs `general.architecture`, which a PEFT adapter does not carry.
        case unknownArchitecture
        /// A llama adapter's query/key B rows must be reordered between Hugging Face's order
        /// (PEFT) and the GGUF's, which takes the base's head counts.
        case needsHeadCounts(target: String)
        case io(operation: String, path: String, errno: Int32, message: String)
    }

    public var kind: Kind
    /// The adapter file or folder, when known.
    public var path: String?

    public init(_ kind: Kind, path: String? = nil) {
        self.kind = kind
        self.path = path
    }

    public init(_ failure: FileSystemFailure) {
        self.init(.io(operation: failure.operation, path: failure.path, errno: failure.code, message: failure.message))
    }

    public var description: String { (path.map { "\($0): " } ?? "") + kind.message }
}

extension LoRAError.Kind {
    var message: String {
        switch self {
        case .notAnAdapter(let found):
            return "general.type is \(found ?? "missing"), expected 'adapter': this is not an adapter file"
        case .notLoRA(let found):
            return "adapter.type is \(found ?? "missing"), expected 'lora'"
        case .missingKey(let key):
            return "'\(key)' is missing"
        case .invalidValue(let key, let value, let expected):
            return "'\(key)' is \(value), expected \(expected)"
        case .invalidConfig(let reason):
            return "adapter_config.json: \(reason)"
        case .unsupportedOption(let key, let value, let reason):
            return "'\(key)' is \(value): \(reason)"
        case .missingFile(let name):
            return "\(name) is missing"
        case .noTargets:
            return "the adapter holds no lora_a/lora_b pairs"
        case .unexpectedTensor(let tensor, let reason):
            return "tensor '\(tensor)': \(reason)"
        case .unsupportedTensorType(let tensor, let type):
            return "tensor '\(tensor)' is \(type); LoRA tensors must be F32, F16, BF16 or a type LocoLLM dequantizes"
        case .notAMatrix(let tensor, let shape):
            return "tensor '\(tensor)' has shape \(shape), expected a matrix with no empty dimension"
        case .missingHalf(let target, let missing):
            return "target '\(target)' has one half of its pair: '\(missing)' is missing"
        case .rankMismatch(let target, let a, let b):
            return "target '\(target)': A is \(matrix(a)) and B is \(matrix(b)); A's rows and B's columns (the rank) must agree"
        case .mixedRanks(let target, let rank, let expected):
            return "target '\(target)' has rank \(rank) while the adapter's other targets have rank \(expected); one rank per adapter is supported"
        case .configRankMismatch(let target, let rank, let configured):
            return "target '\(target)' has rank \(rank) but adapter_config.json says r = \(configured)"
        case .architectureMismatch(let adapter, let base):
            return "the adapter is for architecture '\(adapter)' but the base is \(base.map { "'\($0)'" } ?? "of no declared architecture")"
        case .targetNotInBase(let target, let hint):
            return "target '\(target)' is not a tensor of the base" + (hint.map { " (\($0))" } ?? "")
        case .shapeMismatch(let target, let a, let b, let expected, let base):
            return "tensor '\(target)': the adapter's A is \(matrix(a)) and B is \(matrix(b)), which fit a base tensor of ggml shape \(expected); the base's is \(base)"
        case .unmappableTarget(let target, let format):
            return "target '\(target)' has no name in \(format)"
        case .unknownArchitecture:
            return "the adapter's base architecture is unknown (PEFT adapters do not record it); pass the architecture to export GGUF"
        case .needsHeadCounts(let target):
            return "converting '\(target)' between PEFT's (Hugging Face) and GGUF's row order needs the base model's head counts; pass the base"
        case .io(let operation, let path, let errno, let message):
            return "\(operation) '\(path)' failed: \(message) (errno \(errno))"
        }
    }

    private func matrix(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: " x ") }
}
