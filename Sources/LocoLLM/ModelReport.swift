/// What `loco inspect` shows of a GGUF file: metadata, tensors, totals by type, parameter count
/// and an estimate of the memory a run needs.
public struct ModelReport: Sendable, Codable {
    public struct MetadataItem: Sendable, Codable {
        public var key: String
        /// `UINT32`, `STRING`, `ARRAY[STRING]`, `ARRAY[ARRAY[INT32]]`, ...
        public var type: String
        public var value: ReportValue
    }

    public struct Tensor: Sendable, Codable {
        public var name: String
        public var shape: [Int]
        public var type: String
        public var offset: Int
        public var bytes: Int
    }

    public struct TypeTotal: Sendable, Codable {
        public var type: String
        public var tensors: Int
        public var parameters: Int
        public var bytes: Int
    }

    /// Memory a run needs: the mapped weights, a KV cache for `contextLength` positions, and
    /// scratch for activations and logits at a 512-token batch. An estimate, not a measurement.
    public struct MemoryEstimate: Sendable, Codable {
        public var contextLength: Int
        public var kvCacheType: String
        public var weightBytes: Int
        public var kvCacheBytes: Int
        public var scratchBytes: Int
        public var totalBytes: Int
    }

    public var path: String
    public var fileBytes: Int
    public var version: UInt32
    public var alignment: Int
    public var dataOffset: Int
    public var architecture: String?
    public var name: String?
    public var parameterCount: Int
    public var tensorBytes: Int
    public var metadata: [MetadataItem]
    public var tensors: [Tensor]
    public var totalsByType: [TypeTotal]
    /// Nil when the metadata lacks the hyper-parameters to estimate from (a vocabulary-only file).
    public var memory: MemoryEstimate?

    /// Builds the report; `contextLength` defaults to the model's own, capped at 4096.
    public init(file: GGUFFile, contextLength: Int? = nil) {
        path = file.path ?? "<memory>"
        fileBytes = file.storage.count
        version = file.version
        alignment = file.alignment
        dataOffset = file.dataOffset
        architecture = file.architecture
        name = file.metadata[GGUFKey.name]?.stringValue
        parameterCount = file.parameterCount
        tensorBytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        metadata = file.metadata.map { entry in
            MetadataItem(key: entry.key, type: ReportValue.typeName(entry.value), value: ReportValue(entry.value))
        }
        tensors = file.tensors.map {
            Tensor(name: $0.name, shape: $0.shape, type: $0.type.name, offset: $0.offset, bytes: $0.byteCount)
        }
        var totals: [GGMLType: TypeTotal] = [:]
        for t in file.tensors {
            var total = totals[t.type] ?? TypeTotal(type: t.type.name, tensors: 0, parameters: 0, bytes: 0)
            total.tensors += 1
            total.parameters += t.elementCount
            total.bytes += t.byteCount
            totals[t.type] = total
        }
        totalsByType = totals.values.sorted { $0.bytes > $1.bytes }
        memory = ModelReport.estimateMemory(file, tensorBytes: tensorBytes, contextLength: contextLength)
    }

    static func estimateMemory(_ file: GGUFFile, tensorBytes: Int, contextLength: Int?) -> MemoryEstimate? {
        guard let arch = file.architecture else { return nil }
        let m = file.metadata
        func int(_ key: String) -> Int? { try? m.integer("\(arch).\(key)") }
        guard let layers = int("block_count"), let width = int("embedding_length"),
              let heads = int("attention.head_count"), heads > 0
        else { return nil }
        let kvHeads = int("attention.head_count_kv") ?? heads
        let keyLength = int("attention.key_length") ?? width / heads
        let valueLength = int("attention.value_length") ?? keyLength
        let ffn = int("feed_forward_length") ?? 4 * width
        let context = contextLength ?? min(int("context_length") ?? 4096, 4096)
        let vocab = (try? m.array("tokenizer.ggml.tokens").count) ?? 0
        let kvBytes = layers * context * kvHeads * (keyLength + valueLength) * 2  // F16 keys and values
        let batch = 512
        let scratch = batch * (6 * width + 3 * ffn + heads * min(context, batch)) * 4 + vocab * 4
        return MemoryEstimate(
            contextLength: context, kvCacheType: "F16", weightBytes: tensorBytes, kvCacheBytes: kvBytes,
            scratchBytes: scratch, totalBytes: tensorBytes + kvBytes + scratch)
    }
}

/// A metadata value as JSON shows it: numbers, strings, bools, arrays.
public enum ReportValue: Sendable, Codable, Equatable {
    case integer(Int64)
    case unsigned(UInt64)
    case number(Double)
    case bool(Bool)
    case string(String)
    case array([ReportValue])

    public init(_ value: GGUFValue) {
        switch value {
        case .uint64(let v): self = .unsigned(v)
        case .float32(let v): self = .number(Double(v))
        case .float64(let v): self = .number(v)
        case .bool(let v): self = .bool(v)
        case .string(let v): self = .string(v)
        case .array(let a): self = .array(a.values.map(ReportValue.init))
        default: self = .integer(value.integerValue!)
        }
    }

    static func typeName(_ value: GGUFValue) -> String {
        guard case .array(let a) = value else { return value.type.name }
        if a.elementType == .array, let first = a.values.first { return "ARRAY[\(typeName(first))]" }
        return "ARRAY[\(a.elementType.name)]"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .integer(let v): try c.encode(v)
        case .unsigned(let v): try c.encode(v)
        case .number(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int64.self) { self = .integer(v) }
        else if let v = try? c.decode(UInt64.self) { self = .unsigned(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else { self = .array(try c.decode([ReportValue].self)) }
    }
}
