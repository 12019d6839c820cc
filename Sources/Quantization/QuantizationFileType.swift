import GGUFFormat

/// The file types llama.cpp's quantizer produces (`llama_ftype`), by the names it uses.
public enum QuantizationFileType: String, CaseIterable, Sendable, Codable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case q8_0 = "Q8_0"
    case q4_0 = "Q4_0"
    case q4_1 = "Q4_1"
    case q5_0 = "Q5_0"
    case q5_1 = "Q5_1"
    case q2_K = "Q2_K"
    case q3_K_S = "Q3_K_S"
    case q3_K_M = "Q3_K_M"
    case q3_K_L = "Q3_K_L"
    case q4_K_S = "Q4_K_S"
    case q4_K_M = "Q4_K_M"
    case q5_K_S = "Q5_K_S"
    case q5_K_M = "Q5_K_M"
    case q6_K = "Q6_K"
    case tq1_0 = "TQ1_0"
    case tq2_0 = "TQ2_0"

    /// The `general.file_type` value (`llama_ftype`).
    public var fileTypeID: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q8_0: 7
        case .q5_0: 8
        case .q5_1: 9
        case .q2_K: 10
        case .q3_K_S: 11
        case .q3_K_M: 12
        case .q3_K_L: 13
        case .q4_K_S: 14
        case .q4_K_M: 15
        case .q5_K_S: 16
        case .q5_K_M: 17
        case .q6_K: 18
        case .bf16: 32
        case .tq1_0: 36
        case .tq2_0: 37
        }
    }

    /// The type most tensors get (`llama_ftype_get_default_type`).
    public var defaultType: GGMLType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        case .q5_0: .q5_0
        case .q5_1: .q5_1
        case .q2_K: .q2_K
        case .q3_K_S, .q3_K_M, .q3_K_L: .q3_K
        case .q4_K_S, .q4_K_M: .q4_K
        case .q5_K_S, .q5_K_M: .q5_K
        case .q6_K: .q6_K
        case .tq1_0: .tq1_0
        case .tq2_0: .tq2_0
        }
    }

    /// Parses a name as llama-quantize accepts it: case-insensitive, with its aliases
    /// `Q3_K` (= Q3_K_M), `Q4_K` (= Q4_K_M) and `Q5_K` (= Q5_K_M).
    public init?(name: String) {
        let upper = name.uppercased()
        let aliases: [String: QuantizationFileType] = ["Q3_K": .q3_K_M, "Q4_K": .q4_K_M, "Q5_K": .q5_K_M]
        if let alias = aliases[upper] {
            self = alias
        } else if let match = QuantizationFileType(rawValue: upper) {
            self = match
        } else {
            return nil
        }
    }

    /// The file type whose id is `id`, if it is one LocoLLM writes.
    public init?(fileTypeID id: UInt32) {
        guard let match = QuantizationFileType.allCases.first(where: { $0.fileTypeID == id }) else { return nil }
        self = match
    }
}
