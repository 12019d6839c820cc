import GGUFFormat

/// Why a GGUF file cannot be run as a model, naming the key or tensor and what was expected.
public struct ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// `general.architecture` is missing or not a string.
        case missingArchitecture
        case unsupportedArchitecture(String)
        case missingKey(String)
        /// A key holds a value of the wrong type or out of range.
        case invalidValue(key: String, value: String, expected: String)
        /// Hyper-parameters that contradict each other or the tensors.
        case inconsistent(String)
        case missingTensor(String)
        case tensorShape(tensor: String, shape: [Int], expected: [Int])
        /// A tensor this runtime cannot use (a type without a product, an unsupported extra such as a bias).
        case unsupportedTensor(tensor: String, reason: String)
        /// A token id outside the vocabulary.
        case tokenOutOfRange(token: Int, vocabularySize: Int)
        /// The session's KV cache cannot hold more positions.
        case contextFull(position: Int, adding: Int, contextLength: Int)
        /// An adapter delta whose [inputs, outputs] differ from its base matrix's [columns, rows].
        case adapterShape(tensor: String, expected: [Int], actual: [Int])
        /// An adapter delta for a tensor the base model does not have.
        case adapterTarget(tensor: String)
        /// Low-rank factors whose value counts do not fit their rank and widths.
        case adapterFactors(rank: Int, inputs: Int, outputs: Int, aCount: Int, bCount: Int)
    }

    public var kind: Kind
    /// The model file, when known.
    public var path: String?

    public init(_ kind: Kind, path: String? = nil) {
        self.kind = kind
        self.path = path
    }

    public var description: String {
        (path.map { "\($0): " } ?? "") + kind.message
    }
}

extension ModelError.Kind {
    var message: String {
        switch self {
        case .missingArchitecture:
            return "metadata key 'general.architecture' is missing; it names the model architecture"
        case .unsupportedArchitecture(let name):
            let supported = ModelConfiguration.Architecture.allCases.map(\.rawValue).joined(separator: ", ")
            return "architecture '\(name)' is not supported (supported: \(supported))"
        case .missingKey(let key):
            return "metadata key '\(key)' is missing"
        case .invalidValue(let key, let value, let expected):
            return "metadata key '\(key)' is \(value), expected \(expected)"
        case .inconsistent(let reason):
            return "inconsistent hyper-parameters: \(reason)"
        case .missingTensor(let name):
            return "tensor '\(name)' is missing"
        case .tensorShape(let tensor, let shape, let expected):
            return "tensor '\(tensor)' has shape \(shape), expected \(expected)"
        case .unsupportedTensor(let tensor, let reason):
            return "tensor '\(tensor)': \(reason)"
        case .tokenOutOfRange(let token, let size):
            return "token \(token) is outside the vocabulary 0..<\(size)"
        case .contextFull(let position, let adding, let length):
            return "cannot add \(adding) tokens at position \(position): the context holds \(length)"
        case .adapterShape(let tensor, let expected, let actual):
            return "adapter delta for tensor '\(tensor)' has [inputs, outputs] \(actual), the base tensor has \(expected)"
        case .adapterTarget(let tensor):
            return "adapter delta for tensor '\(tensor)', which the base model does not have"
        case .adapterFactors(let rank, let inputs, let outputs, let aCount, let bCount):
            return "low-rank factors of rank \(rank) for \(inputs) inputs and \(outputs) outputs need \(rank * inputs) A and "
                + "\(outputs * rank) B values, got \(aCount) and \(bCount)"
        }
    }
}
