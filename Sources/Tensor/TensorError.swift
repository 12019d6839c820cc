import GGUFFormat

/// Why a tensor cannot be used as the runtime was asked to use it.
public enum TensorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The tensor's type has no matrix product here (the IQ formats, integer types, ...).
    case unsupportedWeightType(tensor: String, type: GGMLType)
    /// A weight matrix must be two-dimensional (dimensions past the second must be 1).
    case notAMatrix(tensor: String, shape: [Int])
    /// A vector (norm weight, frequency factors) has the wrong length or is not a vector.
    case vectorLength(tensor: String, shape: [Int], expected: Int)
    /// Given data does not have the size its shape and type imply.
    case sizeMismatch(tensor: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .unsupportedWeightType(let tensor, let type):
            return "tensor '\(tensor)': type \(type.name) has no matrix product (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K...Q6_K, TQ1_0, TQ2_0)"
        case .notAMatrix(let tensor, let shape):
            return "tensor '\(tensor)': shape \(shape) is not a matrix"
        case .vectorLength(let tensor, let shape, let expected):
            return "tensor '\(tensor)': shape \(shape), expected a vector of \(expected) values"
        case .sizeMismatch(let tensor, let expected, let actual):
            return "tensor '\(tensor)': \(actual) bytes, expected \(expected)"
        }
    }
}
