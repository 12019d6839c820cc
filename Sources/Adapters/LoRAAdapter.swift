import GGUFFormat
import LocoSupport

/// A row-major matrix of F32 values: `rows * columns` values, row after row.
public struct LoRAMatrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public let values: [Float]

    /// A matrix over `values`, which must hold exactly `rows * columns` values.
    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(rows >= 0 && columns >= 0 && rows.multipliedReportingOverflow(by: columns) == (values.count, false),
                     "a \(rows) x \(columns) matrix needs \(rows) * \(columns) values, \(values.count) given")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// `[rows, columns]`.
    public var shape: [Int] { [rows, columns] }

    /// The value in `row`, `column`.
    public subscript(row: Int, column: Int) -> Float { values[row * columns + column] }

    /// The transpose, `columns x rows`.
    public func transposed() -> LoRAMatrix {
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows {
            for c in 0..<columns { out[c * rows + r] = values[r * columns + c] }
        }
        return LoRAMatrix(rows: columns, columns: rows, values: out)
    }

    /// Equal when the shapes and every value's bit pattern agree, so equality means "lossless":
    /// -0 differs from +0, and a NaN equals the same NaN.
    public static func == (lhs: LoRAMatrix, rhs: LoRAMatrix) -> Bool {
        lhs.rows == rhs.rows && lhs.columns == rhs.columns
            && lhs.values.withUnsafeBytes { a in rhs.values.withUnsafeBytes { b in a.elementsEqual(b) } }
    }
}

/// The two low-rank matrices of one adapted tensor: the delta to `W x` is `B (A x)`, times the
/// adapter's scale.
public struct LoRAWeights: Sendable, Equatable {
    /// `rank x inputWidth`, applied first.
    public let a: LoRAMatrix
    /// `outputWidth x rank`.
    public let b: LoRAMatrix

    /// A pair; `a.rows` (the rank) must equal `b.columns`, and no dimension may be empty. The
    /// loaders check this and throw ``LoRAError`` before building a pair.
    public init(a: LoRAMatrix, b: LoRAMatrix) {
        precondition(a.rows == b.columns, "A has \(a.rows) rows but B has \(b.columns) columns")
        precondition(a.rows > 0 && a.columns > 0 && b.rows > 0, "LoRA matrices must not be empty")
        self.a = a
        self.b = b
    }

    public var rank: Int { a.rows }
    /// The base tensor's input width (a linear layer's `n_in`, the embedding's vocabulary).
    public var inputWidth: Int { a.columns }
    /// The base tensor's output width (a linear layer's `n_out`, the embedding's width).
    public var outputWidth: Int { b.rows }
}

/// A LoRA adapter: per adapted base tensor (named as in GGUF: `blk.0.attn_q.weight`), the A and
/// B matrices in F32, with one alpha and one rank.
///
/// At run time a linear layer computes `y = W x + scale * B (A x)` with
/// `scale = userScale * alpha / rank` (``Scaling/rankStabilized``: `alpha / sqrt(rank)`), as
/// llama.cpp does; merging is `W' = W + scale * B A`. For the token embedding (`token_embd.weight`)
/// the input is the token id: A is `rank x vocabulary`, B is `width x rank`, and the delta of
/// token `t`'s row is `scale * B A[:, t]`.
///
/// Adapters load from llama.cpp GGUF LoRA files and PEFT folders, export to both, and round-trip
/// through either without changing a bit.
///
/// ```swift
/// let adapter = try LoRAAdapter(contentsOf: "math.gguf")       // or a PEFT folder
/// try adapter.validate(against: model)                        // architecture, tensors, shapes
/// let scale = adapter.scale(userScale: 1)                      // alpha / rank
/// try adapter.writePEFT(to: "math-peft")
/// ```
public struct LoRAAdapter: Sendable, Equatable {
    /// How alpha and the rank give the scale.
    public enum Scaling: String, Sendable {
        /// `alpha / rank`: llama.cpp and PEFT's default.
        case standard
        /// `alpha / sqrt(rank)`: PEFT's `use_rslora`.
        case rankStabilized
    }

    /// The order of the output rows of a llama model's query and key projections. llama.cpp's
    /// converter permutes them (within each head, the two halves Hugging Face rotates are
    /// interleaved, because ggml's RoPE rotates adjacent pairs), and `convert_lora_to_gguf.py`
    /// permutes the rows of those projections' B the same way. A PEFT adapter holds them in
    /// Hugging Face's order, a GGUF LoRA in the GGUF's; other architectures are not permuted.
    public enum RowOrder: String, Sendable {
        case gguf
        case huggingFace
    }

    /// Where the adapter came from and what it was made for.
    public struct Metadata: Sendable, Equatable {
        public enum SourceFormat: String, Sendable {
            case gguf, peft
            /// Built in memory (trained, merged, or constructed by a test).
            case memory
        }

        public var sourceFormat: SourceFormat
        /// The file or folder it was loaded from.
        public var path: String?
        /// The base model's `general.architecture` (GGUF adapters record it; PEFT ones do not).
        public var baseArchitecture: String?
        /// PEFT's `base_model_name_or_path`.
        public var baseModel: String?
        /// GGUF's `general.name`.
        public var name: String?
        /// The order of the rows of B for a llama base's `attn_q` and `attn_k` (see ``RowOrder``).
        public var rowOrder: RowOrder

        public init(
            sourceFormat: SourceFormat = .memory, path: String? = nil, baseArchitecture: String? = nil,
            baseModel: String? = nil, name: String? = nil, rowOrder: RowOrder = .gguf
        ) {
            self.sourceFormat = sourceFormat
            self.path = path
            self.baseArchitecture = baseArchitecture
            self.baseModel = baseModel
            self.name = name
            self.rowOrder = rowOrder
        }
    }

    /// The A and B matrices by base tensor name.
    public let weights: [String: LoRAWeights]
    /// 0 means "no alpha", as in llama.cpp: the scale is then the user's scale alone.
    public let alpha: Float
    /// The rank shared by every pair.
    public let rank: Int
    public let scaling: Scaling
    public var metadata: Metadata

    /// An adapter over `weights`; throws if there are none, if their ranks differ, or if alpha is
    /// not finite.
    public init(
        weights: [String: LoRAWeights], alpha: Float, scaling: Scaling = .standard, metadata: Metadata = Metadata()
    ) throws(LoRAError) {
        let names = weights.keys.sorted(by: TargetNames.precedes)
        guard let first = names.first else { throw LoRAError(.noTargets, path: metadata.path) }
        let rank = weights[first]!.rank
        for name in names where weights[name]!.rank != rank {
            throw LoRAError(.mixedRanks(target: name, rank: weights[name]!.rank, expected: rank), path: metadata.path)
        }
        guard alpha.isFinite else {
            throw LoRAError(.invalidValue(key: "alpha", value: "\(alpha)", expected: "a finite number"), path: metadata.path)
        }
        self.weights = weights
        self.targets = names
        self.alpha = alpha
        self.rank = rank
        self.scaling = scaling
        self.metadata = metadata
    }

    /// The adapted base tensors: the token embedding, then block by block (attention q, k, v,
    /// output, then feed-forward gate, up, down), then the output layer. Sorted once, at init.
    public let targets: [String]

    /// The factor of `B (A x)` at run time: `userScale * alpha / rank`, or
    /// `userScale * alpha / sqrt(rank)` when rank-stabilized; `userScale` when alpha is 0.
    /// Computed in the order llama.cpp computes it, so the F32 result is the same.
    public func scale(userScale: Float = 1) -> Float {
        guard alpha != 0 else { return userScale }
        switch scaling {
        case .standard: return userScale * alpha / Float(rank)
        case .rankStabilized: return userScale * alpha / Float(rank).squareRoot()
        }
    }

    /// The alpha that gives the same scale under the standard rule: what a GGUF LoRA file stores.
    /// Equal to ``alpha`` unless rank-stabilized (then `alpha * sqrt(rank)`, rounded to F32).
    public var standardAlpha: Float {
        scaling == .standard ? alpha : alpha * Float(rank).squareRoot()
    }

    /// Loads a PEFT folder (a directory holding `adapter_config.json`) or a GGUF LoRA file.
    public init(contentsOf path: String) throws {
        if FileSystem.isDirectory(path) {
            try self.init(peftFolder: path)
        } else {
            try self.init(gguf: GGUFFile(contentsOf: path))
        }
    }
}
