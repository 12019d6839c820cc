import Foundation
import Tensor

/// One conversation with a ``Model``: its own KV cache and scratch memory. Tokens go in through
/// ``forward(tokens:logits:)`` (a batched prefill: every layer's products take all positions at
/// once) or ``decode(_:)`` (one token), and each call continues from the positions already seen;
/// ``embedding(tokens:normalized:)`` gives the mean-pooled final hidden states of a text instead.
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

    /// The low-rank deltas every forward pass adds (LoRA adapters, unmerged), or nil for the bare
    /// base model. Setting it is a pointer swap: the base is shared and never changes. Positions
    /// already in the cache keep what the previous adapters made of them; ``reset()`` (or
    /// ``rewind(to:)``) first when that matters.
    public var adapters: AdapterSet? {
        get { state.adapters }
        set {
            if let newValue { precondition(newValue.model === model, "an adapter set is made for one model") }
            state.adapters = newValue
        }
    }

    /// How the float work is ordered (see `Numerics`).
    public var numerics: Numerics { state.numerics }
    /// Bytes the KV cache holds now (its capacity doubles as positions are added).
    public var cacheBytes: Int { state.cache.byteCount }

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
        let ids = try checked(tokens)
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
                case .all: run(chunk, output: .logits(out.baseAddress! + done * vocabulary, 0..<chunk.count))
                case .last where isLast: run(chunk, output: .logits(out.baseAddress!, (chunk.count - 1)..<chunk.count))
                default: run(chunk, output: .none)
                }
            }
            done += chunk.count
        }
        return Logits(positions: rows, vocabularySize: vocabulary, values: values)
    }

    /// The embedding of `tokens`: the mean over their positions of the final hidden states after
    /// the output RMSNorm (the vectors the output layer would turn into logits), `embeddingLength`
    /// values. This is what llama.cpp returns for a context made with `pooling_type` MEAN (its
    /// `result_norm`, averaged); no logits are computed. `normalized` scales the result to unit
    /// Euclidean length (llama.cpp's `embd_normalize` 2), for cosine similarity by dot product.
    ///
    /// The tokens run from an empty cache, causally (each attends to those before it), in passes
    /// of `batchSize`; the session's cache is scratch space: it is emptied before and after, so a
    /// ``Generator`` on this session must be `reset()` before its next prompt. A cancelled task
    /// stops between passes with `CancellationError`.
    ///
    /// ```swift
    /// let ids = tokenizer.encode("How do I bake bread?", addSpecial: true)
    /// let vector = try model.makeSession().embedding(tokens: ids, normalized: true)   // 576 floats
    /// ```
    public func embedding<Token: BinaryInteger>(tokens: [Token], normalized: Bool = false) throws -> [Float] {
        try embedding(tokens: tokens, normalized: normalized, layers: nil)
    }

    /// The mean over `tokens`' positions of the hidden states after the first `layers` blocks,
    /// each row scaled to unit RMS (the output norm without its weights), or with `layers` nil,
    /// ``embedding(tokens:normalized:)``. Middle layers often separate topics better than the
    /// last, which is shaped for predicting the next token; the later blocks are not run.
    public func embedding<Token: BinaryInteger>(tokens: [Token], normalized: Bool = false, layers: Int?) throws -> [Float] {
        if let layers {
            guard (1...model.layers.count).contains(layers) else {
                throw ModelError(.inconsistent("an embedding after \(layers) blocks: the model has \(model.layers.count)"))
            }
        }
        reset()
        defer { reset() }
        let ids = try checked(tokens)
        guard !ids.isEmpty else { throw ModelError(.inconsistent("there are no tokens to embed")) }
        let width = model.configuration.embeddingLength
        // Sums in double: the mean of up to a context of rows loses nothing to the order of additions.
        var sums = [Double](repeating: 0, count: width)
        var done = 0
        while done < ids.count {
            if done > 0 { try Task.checkCancellation() }
            let chunk = Array(ids[done..<min(ids.count, done + batchSize)])
            sums.withUnsafeMutableBufferPointer { sums in
                if let layers {
                    run(chunk, output: .sumOfLayer(sums.baseAddress!, layers))
                } else {
                    run(chunk, output: .sumOfNormed(sums.baseAddress!))
                }
            }
            done += chunk.count
        }
        var mean = sums.map { Float($0 / Double(ids.count)) }
        if normalized {
            let length = mean.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            if length > 0 { mean = mean.map { Float(Double($0) / length) } }
        }
        return mean
    }

    /// Runs one token at the next position and returns its logits.
    public func decode<Token: BinaryInteger>(_ token: Token) throws -> [Float] {
        try forward(tokens: [token], logits: .last).values
    }

    /// Forgets every position (the cache memory is kept).
    public func reset() { position = 0 }

    /// Counts positions a batched pass stored in this session's cache (``BatchGenerator``).
    func advance(by count: Int) { position += count }

    /// Drops the positions from `newPosition` on, so the next token goes there.
    public func rewind(to newPosition: Int) {
        precondition(newPosition >= 0 && newPosition <= position, "can only rewind to a position already seen")
        position = newPosition
    }

    /// The token ids of `tokens`, after checking that each is in the vocabulary and that they
    /// fit in the context after the positions already seen.
    private func checked<Token: BinaryInteger>(_ tokens: [Token]) throws -> [Int] {
        let vocabulary = model.vocabularySize
        let ids = try tokens.map { token -> Int in
            guard token >= 0, token < vocabulary else { throw ModelError(.tokenOutOfRange(token: Int(clamping: token), vocabularySize: vocabulary)) }
            return Int(token)
        }
        guard position + ids.count <= contextLength else {
            throw ModelError(.contextFull(position: position, adding: ids.count, contextLength: contextLength))
        }
        return ids
    }

    /// What one pass of the layers produces besides the cache entries.
    private enum Output {
        /// Logits of the chunk rows in the range, written from the pointer on, row after row.
        case logits(UnsafeMutablePointer<Float>, Range<Int>)
        /// Every row's output-normed hidden state added to the `embeddingLength` sums.
        case sumOfNormed(UnsafeMutablePointer<Double>)
        /// Every row's hidden state after the first `Int` blocks, scaled to unit RMS, added to
        /// the sums; the remaining blocks are not run.
        case sumOfLayer(UnsafeMutablePointer<Double>, Int)
        case none
    }

    /// One pass of the layers over `tokens` (at most `batchSize`), producing `output`.
    private func run(_ tokens: [Int], output: Output) {
        let n = tokens.count
        let c = model.configuration
        let start = position
        state.cache.reserve(start + n)
        state.prepare(c, count: n, ropeDimensions: model.rotaryEmbedding.dimensions)
        let hidden = state.hidden.pointer
        for (t, token) in tokens.enumerated() {
            model.embedding.row(token, into: hidden + t * c.embeddingLength)
            state.setAngles(row: t, position: start + t, model: model)
        }
        if let adapters = state.adapters, !adapters.embedding.isEmpty {
            adapters.addEmbeddingDeltas(tokens: tokens, into: hidden, numerics: state.numerics)
        }
        model.scaleEmbeddings(hidden, rows: n)
        var blocks = model.layers.count
        // The rows that go on through the last block's feed-forward layer: those whose logits
        // are wanted (all for embeddings).
        var kept: [Int]? = nil
        switch output {
        case .sumOfLayer(_, let count): blocks = count
        case .logits(_, let range) where range != 0..<n: kept = Array(range)
        case .none: kept = []
        default: break
        }
        for (index, layer) in model.layers.enumerated().prefix(blocks) {
            layer.forward(layer: index, count: n, start: start, model: model, state: state,
                          outputRows: index == model.layers.count - 1 ? kept : nil)
        }
        position += n
        let width = c.embeddingLength
        if case .sumOfLayer(let sums, _) = output {
            for r in 0..<n {
                let row = hidden + r * width
                var squares = 0.0
                for i in 0..<width { squares += Double(row[i]) * Double(row[i]) }
                let scale = 1 / (squares / Double(width) + Double(c.rmsEpsilon)).squareRoot()
                for i in 0..<width { sums[i] += Double(row[i]) * scale }
            }
            return
        }
        // After the last block the wanted rows are the first ones of `hidden`.
        let rows: Range<Int>
        switch output {
        case .logits(_, let range) where !range.isEmpty: rows = kept == nil ? range : 0..<range.count
        case .sumOfNormed: rows = 0..<n
        default: return
        }
        let normed = state.normed.pointer
        model.outputNorm.withUnsafeBufferPointer { w in
            Normalization.rmsNorm(hidden + rows.lowerBound * width, rows: rows.count, width: width, weight: w.baseAddress!,
                                  epsilon: c.rmsEpsilon, into: normed)
        }
        switch output {
        case .logits(let destination, _):
            model.output.multiply(normed, count: rows.count, into: destination, workspace: state.matmul,
                                  numerics: state.numerics, pool: state.pool)
            state.addDeltas({ $0.output }, input: normed, count: rows.count, into: destination)
            model.capLogits(destination, count: rows.count * model.vocabularySize)
        case .sumOfNormed(let sums):
            for r in 0..<rows.count {
                let row = normed + r * width
                for i in 0..<width { sums[i] += Double(row[i]) }
            }
        case .sumOfLayer, .none:
            break
        }
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
    var adapters: AdapterSet?
    /// Per-row adapters for a batch of independent sequences, one row each (batched decoding):
    /// row `r` gets `rowAdapters[r]`'s deltas instead of ``adapters``'. Nil: every row has ``adapters``.
    var rowAdapters: [AdapterSet?]?
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
    /// RoPE angles of the sliding-window blocks, when they have their own embedding.
    private(set) var localAngles = FloatBuffer(count: 0)
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
        localAngles = FloatBuffer(count: count * ropeDimensions)
    }

    /// Fills row `row` of the angle tables (and the local one, if the model has one) for `position`.
    func setAngles(row: Int, position: Int, model: Model) {
        let rope = model.rotaryEmbedding
        rope.angles(position: position, into: angles.pointer + row * rope.dimensions)
        if let local = model.localRotaryEmbedding {
            local.angles(position: position, into: localAngles.pointer + row * local.dimensions)
        }
    }
}

extension ForwardState {
    /// Adds the deltas `select` picks from each row's adapter set to `count` rows of `output`,
    /// computed from the same rows of `input`. Rows of one set go through one product; with a
    /// row-invariant workspace each row goes alone, so that its bits are those of a one-row pass.
    func addDeltas(_ select: (AdapterSet) -> [AdapterSet.Delta], input: UnsafePointer<Float>, count: Int,
                   into output: UnsafeMutablePointer<Float>) {
        let byRow = matmul.rowInvariant && count > 1
        guard let rowAdapters else {
            guard let adapters else { return }
            let deltas = select(adapters)
            guard let first = deltas.first else { return }
            if byRow {
                for r in 0..<count {
                    AdapterSet.apply(deltas, input: input + r * first.inputs, count: 1, into: output + r * first.outputs, numerics: numerics)
                }
            } else {
                AdapterSet.apply(deltas, input: input, count: count, into: output, numerics: numerics)
            }
            return
        }
        precondition(rowAdapters.count == count, "per-row adapters need one set per row")
        var r = 0
        while r < count {
            var end = r + 1
            while !byRow, end < count, rowAdapters[end] === rowAdapters[r] { end += 1 }
            if let set = rowAdapters[r] {
                let deltas = select(set)
                if let first = deltas.first {
                    AdapterSet.apply(deltas, input: input + r * first.inputs, count: end - r, into: output + r * first.outputs,
                                     numerics: numerics)
                }
            }
            r = end
        }
    }
}

extension Model {
    /// Multiplies `rows` embedding rows by the architecture's embedding scale, if it has one.
    package func scaleEmbeddings(_ hidden: UnsafeMutablePointer<Float>, rows: Int) {
        guard let scale = embeddingScale else { return }
        for i in 0..<(rows * configuration.embeddingLength) { hidden[i] *= scale }
    }

    /// `cap * tanh(logit / cap)` on `count` logits when the model soft-caps them (ggml's
    /// scale, tanh, scale), else nothing.
    package func capLogits(_ logits: UnsafeMutablePointer<Float>, count: Int) {
        guard let cap = configuration.finalLogitSoftcap else { return }
        let inverse = 1 / cap
        for i in 0..<count { logits[i] = tanhf(logits[i] * inverse) * cap }
    }
}
