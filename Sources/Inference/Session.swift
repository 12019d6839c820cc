import Tensor

/// One conversation with a ``Model``: its own KV cache and scratch memory. Tokens go in through
/// ``forward(tokens:logits:)`` (a batched prefill: every layer's products take all positions at
/// once) or ``decode(_:)`` (one token), and each call continues from the positions already seen.
/// Not thread-safe: use a session from one task at a time; use several sessions for parallel work.
public final class Session {
    public let model: Model
    /// Positions in the cache: the next token goes at this position.
    public private(set) var position = 0
    /// Positions this session can hold.
    public let contextLength: Int
    /// Positions one pass of the layers takes at most; longer inputs run in several passes.
    public let batchSize: Int
    let state: ForwardState

    /// How the float work is ordered (see `Numerics`).
    public var numerics: Numerics { state.numerics }

    init(model: Model, contextLength: Int?, cachePrecision: KVCache.Precision, numerics: Numerics, pool: ComputePool, batchSize: Int = 512) {
        let c = model.configuration
        self.model = model
        self.contextLength = min(contextLength ?? c.contextLength, c.contextLength)
        self.batchSize = batchSize
        let cache = KVCache(layers: c.blockCount, kvHeads: c.kvHeadCount, headDimension: c.headDimension,
                            maximumCapacity: self.contextLength, precision: cachePrecision)
        state = ForwardState(cache: cache, numerics: numerics, pool: pool)
    }

    /// Which positions a forward pass returns logits for.
    public enum LogitsSelection: Sendable {
        case all, last, none
    }

    /// Runs `tokens` at the next positions and returns the logits of the positions `selection`
    /// asks for (all by default: row `i` is the distribution after `tokens[0...i]`). Long inputs
    /// run in passes of `batchSize`; a cancelled task stops between passes with
    /// `CancellationError`, keeping the positions already run.
    public func forward<Token: BinaryInteger>(tokens: [Token], logits selection: LogitsSelection = .all) throws -> Logits {
        let vocabulary = model.vocabularySize
        let ids = try tokens.map { token -> Int in
            guard token >= 0, token < vocabulary else { throw ModelError(.tokenOutOfRange(token: Int(clamping: token), vocabularySize: vocabulary)) }
            return Int(token)
        }
        guard position + ids.count <= contextLength else {
            throw ModelError(.contextFull(position: position, adding: ids.count, contextLength: contextLength))
        }
        let rows = switch selection {
        case .all: ids.count
        case .last: min(1, ids.count)
        case .none: 0
        }
        var values = [Float](repeating: 0, count: rows * vocabulary)
        var done = 0
        while done < ids.count {
            if done > 0 { try Task.checkCancellation() }
            let chunk = Array(ids[done..<min(ids.count, done + batchSize)])
            let isLast = done + chunk.count == ids.count
            values.withUnsafeMutableBufferPointer { out in
                switch selection {
                case .all: run(chunk, logits: (out.baseAddress! + done * vocabulary, 0..<chunk.count))
                case .last where isLast: run(chunk, logits: (out.baseAddress!, (chunk.count - 1)..<chunk.count))
                default: run(chunk, logits: nil)
                }
            }
            done += chunk.count
        }
        return Logits(positions: rows, vocabularySize: vocabulary, values: values)
    }

    /// Runs one token at the next position and returns its logits.
    public func decode<Token: BinaryInteger>(_ token: Token) throws -> [Float] {
        try forward(tokens: [token], logits: .last).values
    }

    /// Forgets every position (the cache memory is kept).
    public func reset() { position = 0 }

    /// Drops the positions from `newPosition` on, so the next token goes there.
    public func rewind(to newPosition: Int) {
        precondition(newPosition >= 0 && newPosition <= position, "can only rewind to a position already seen")
        position = newPosition
    }

    /// One pass of the layers over `tokens` (at most `batchSize`), writing the logits of the
    /// chunk rows `logits.1` to `logits.0`.
    private func run(_ tokens: [Int], logits: (UnsafeMutablePointer<Float>, Range<Int>)?) {
        let n = tokens.count
        let c = model.configuration
        let start = position
        state.cache.reserve(start + n)
        state.prepare(c, count: n, ropeDimensions: model.rotaryEmbedding.dimensions)
        let hidden = state.hidden.pointer
        for (t, token) in tokens.enumerated() {
            model.embedding.row(token, into: hidden + t * c.embeddingLength)
            model.rotaryEmbedding.angles(position: start + t, into: state.angles.pointer + t * model.rotaryEmbedding.dimensions)
        }
        for (index, layer) in model.layers.enumerated() {
            layer.forward(layer: index, count: n, start: start, model: model, state: state)
        }
        position += n
        guard let (destination, rows) = logits, !rows.isEmpty else { return }
        let first = hidden + rows.lowerBound * c.embeddingLength
        model.outputNorm.withUnsafeBufferPointer { w in
            Normalization.rmsNorm(first, rows: rows.count, width: c.embeddingLength, weight: w.baseAddress!,
                                  epsilon: c.rmsEpsilon, into: state.normed.pointer)
        }
        model.output.multiply(state.normed.pointer, count: rows.count, into: destination, workspace: state.matmul,
                              numerics: state.numerics, pool: state.pool)
    }
}

/// Logits of several positions: `positions` rows of `vocabularySize` floats.
public struct Logits: Sendable, Equatable {
    public let positions: Int
    public let vocabularySize: Int
    /// Row-major: position `p`'s logits are `values[p * vocabularySize ..< (p + 1) * vocabularySize]`.
    public var values: [Float]

    public init(positions: Int, vocabularySize: Int, values: [Float]) {
        precondition(values.count == positions * vocabularySize)
        self.positions = positions
        self.vocabularySize = vocabularySize
        self.values = values
    }

    public subscript(position: Int) -> ArraySlice<Float> {
        values[(position * vocabularySize)..<((position + 1) * vocabularySize)]
    }

    /// The most likely token after `position` (the first on ties).
    public func argmax(position: Int) -> Int {
        let row = self[position]
        var best = row.startIndex
        for i in row.indices where row[i] > row[best] { best = i }
        return best - row.startIndex
    }
}

/// A session's working memory for one pass: activations sized for the largest batch so far,
/// RoPE angles, product and attention scratch, the KV cache.
final class ForwardState {
    let cache: KVCache
    let numerics: Numerics
    let pool: ComputePool
    let matmul = MatmulWorkspace()
    let attentionWorkspace = AttentionWorkspace()
    private(set) var hidden = FloatBuffer(count: 0)
    private(set) var normed = FloatBuffer(count: 0)
    private(set) var queries = FloatBuffer(count: 0)
    private(set) var keys = FloatBuffer(count: 0)
    private(set) var values = FloatBuffer(count: 0)
    private(set) var attention = FloatBuffer(count: 0)
    private(set) var projection = FloatBuffer(count: 0)
    private(set) var gate = FloatBuffer(count: 0)
    private(set) var up = FloatBuffer(count: 0)
    private(set) var angles = FloatBuffer(count: 0)
    private var rows = 0

    init(cache: KVCache, numerics: Numerics, pool: ComputePool) {
        self.cache = cache
        self.numerics = numerics
        self.pool = pool
    }

    func prepare(_ c: ModelConfiguration, count: Int, ropeDimensions: Int) {
        guard count > rows else { return }
        rows = count
        hidden = FloatBuffer(count: count * c.embeddingLength)
        normed = FloatBuffer(count: count * c.embeddingLength)
        queries = FloatBuffer(count: count * c.queryWidth)
        keys = FloatBuffer(count: count * c.keyValueWidth)
        values = FloatBuffer(count: count * c.keyValueWidth)
        attention = FloatBuffer(count: count * c.queryWidth)
        projection = FloatBuffer(count: count * c.embeddingLength)
        gate = FloatBuffer(count: count * c.feedForwardLength)
        up = FloatBuffer(count: count * c.feedForwardLength)
        angles = FloatBuffer(count: count * ropeDimensions)
    }
}
