import Tensor
import Tokenization

/// Generates replies to several prompts at once over one model: each prompt is prefilled on a
/// session of its own (a batched prefill, as ``Generator`` does), then every decode step runs
/// the next token of all unfinished sequences together, one row each, through one pass of the
/// layers: the weight products read each matrix once for the whole batch instead of once per
/// sequence, and each sequence attends only to its own cache.
///
/// The rows of a batch do not change each other's results: a row's products are the same
/// whichever rows share the pass, as long as the pass has the same number of rows (the
/// kernels for one row and for several differ in their float order). A batch of the same
/// prompts therefore gives the same replies every time.
///
/// ```swift
/// let batch = BatchGenerator(model: model, tokenizer: tokenizer, contextLength: 1024)
/// let replies = try batch.generate(prompts: prompts, options: GenerationOptions(maxTokens: 128, sampler: .greedy))
/// ```
public final class BatchGenerator {
    public let model: Model
    public let tokenizer: Tokenizer
    public let contextLength: Int
    let numerics: Numerics
    let pool: ComputePool
    private var sessions: [Session] = []
    /// The batch's activations; its own cache is not used (each row has its session's).
    private let state: ForwardState

    /// One sequence's reply.
    public struct Reply: Sendable, Equatable {
        public var text: String
        public var tokens: [Int32]
        public var stopReason: StopReason
    }

    /// `laidWeightBytes` bounds the memory kept for weights laid out for the batched products
    /// (see `MatmulWorkspace.laidWeightBudget`; about 1.1 bytes per weight).
    public init(model: Model, tokenizer: Tokenizer, contextLength: Int, numerics: Numerics = .fast, pool: ComputePool = .shared,
                laidWeightBytes: Int = 1 << 30) {
        self.model = model
        self.tokenizer = tokenizer
        self.contextLength = min(contextLength, model.configuration.contextLength)
        self.numerics = numerics
        self.pool = pool
        let c = model.configuration
        state = ForwardState(cache: KVCache(layers: c.blockCount, kvHeads: c.kvHeadCount, headDimension: c.headDimension,
                                            maximumCapacity: 1, precision: .f32),
                             numerics: numerics, pool: pool)
        state.matmul.laidWeightBudget = laidWeightBytes
    }

    /// The replies to `prompts` (token ids, each shorter than the context), in order, with
    /// `adapters` on every sequence.
    public func generate(prompts: [[Int32]], options: GenerationOptions, adapters: AdapterSet? = nil) throws -> [Reply] {
        while sessions.count < prompts.count {
            sessions.append(model.makeSession(contextLength: contextLength, numerics: numerics, pool: pool))
        }
        var cursors: [ReplyCursor] = []
        var logits: [[Float]] = []
        for (i, prompt) in prompts.enumerated() {
            guard !prompt.isEmpty else { throw ModelError(.inconsistent("prompt \(i) has no tokens")) }
            guard prompt.count < contextLength else {
                throw ModelError(.contextFull(position: 0, adding: prompt.count, contextLength: contextLength))
            }
            if let bad = prompt.first(where: { $0 < 0 || Int($0) >= model.vocabularySize }) {
                throw ModelError(.tokenOutOfRange(token: Int(bad), vocabularySize: model.vocabularySize))
            }
            sessions[i].reset()
            sessions[i].adapters = adapters
            cursors.append(ReplyCursor(prompt: prompt, tokenizer: tokenizer, options: options))
            logits.append([])
        }
        // Prompts are prefilled together, as many as `prefillRows` rows hold per pass (one that
        // does not fit alone runs on its own session in passes).
        var group: [Int] = [], rows = 0
        func flush() {
            guard !group.isEmpty else { return }
            let values = step(rows: group.map { prompts[$0] }, sessions: group.map { sessions[$0] }, adapters: adapters)
            let vocabulary = model.vocabularySize
            for (r, index) in group.enumerated() { logits[index] = Array(values[(r * vocabulary)..<((r + 1) * vocabulary)]) }
            group = []
            rows = 0
        }
        for (i, prompt) in prompts.enumerated() {
            if prompt.count > Self.prefillRows {
                logits[i] = try sessions[i].forward(tokens: prompt, logits: .last).values
                continue
            }
            if rows + prompt.count > Self.prefillRows { flush() }
            group.append(i)
            rows += prompt.count
        }
        flush()
        while true {
            var next: [(index: Int, token: Int32)] = []
            for i in cursors.indices where cursors[i].stopReason == nil {
                let step = cursors[i].next(logits: logits[i], room: sessions[i].position < contextLength)
                if !step.finished { next.append((i, step.token)) }
            }
            guard !next.isEmpty else { break }
            let rows = step(rows: next.map { [$0.token] }, sessions: next.map { sessions[$0.index] }, adapters: adapters)
            let vocabulary = model.vocabularySize
            for (r, entry) in next.enumerated() {
                logits[entry.index] = Array(rows[(r * vocabulary)..<((r + 1) * vocabulary)])
            }
        }
        return cursors.map { Reply(text: $0.text, tokens: $0.tokens, stopReason: $0.stopReason ?? .maxTokens) }
    }

    /// Rows one prefill pass takes at most.
    static let prefillRows = 2048

    /// One pass: `rows[s]` at the next positions of `sessions[s]`; the logits after each
    /// sequence's last row, one row per sequence.
    private func step(rows: [[Int32]], sessions: [Session], adapters: AdapterSet?) -> [Float] {
        state.adapters = adapters
        return model.batchedPass(rows: rows, sessions: sessions, state: state)
    }
}

/// Advances several independent sessions by one token each in one pass of the layers:
/// continuous batching for a server. Sessions join and leave between steps; each keeps its own
/// KV cache, position and adapters (``Session/adapters``, so rows of one step may carry
/// different adapters), and the weight products read each matrix once for all of them.
///
/// A step is row-invariant: a session's logits are bit for bit those a one-token
/// ``Session/forward(tokens:logits:)`` on that session alone gives (with ``Numerics/fast``), so a
/// reply does not depend on which other requests shared its steps. (The panel kernels, faster
/// for many rows, are not used for that reason.)
public final class BatchDecoder {
    public let model: Model
    private let state: ForwardState
    /// Prefill passes of several prompts: the kernels a prompt alone would take (panel kernels
    /// for many rows), not the row-invariant one-row kernels of `state`.
    private let prefillState: ForwardState
    /// Whether every product of the model runs on quantized kernels (see ``prefill(_:prompts:)``).
    private let allQuantized: Bool
    /// The matrices of every block (what ``prefill(_:prompts:)`` asks about).
    private let blockMatrices: [WeightMatrix]

    public init(model: Model, pool: ComputePool = .shared) {
        self.model = model
        let c = model.configuration
        func scratch() -> ForwardState {
            ForwardState(cache: KVCache(layers: c.blockCount, kvHeads: c.kvHeadCount, headDimension: c.headDimension,
                                        maximumCapacity: 1, precision: .f32),
                         numerics: .fast, pool: pool)
        }
        state = scratch()
        state.matmul.rowInvariant = true
        prefillState = scratch()
        blockMatrices = model.layers.flatMap { layer in
            [layer.query, layer.key, layer.value, layer.attentionOutput, layer.gate, layer.up, layer.down]
        }
        allQuantized = model.output.isQuantized && blockMatrices.allSatisfy(\.isQuantized)
    }

    /// Prompts one shared prefill pass takes at most. The last block's feed-forward layer and
    /// the output layer run on one row per prompt; up to 7 rows those products take the kernels
    /// whose every row has the bits of a one-row product, from 8 on the panel kernels.
    static let prefillGroup = 7
    /// Rows one shared prefill pass takes at most (a session's own passes take 512: the
    /// activations of a shared pass are no larger).
    static let prefillRows = 512

    /// Prefills `prompts[s]` at the next positions of `sessions[s]` and returns the logits after
    /// each prompt's last token, `vocabularySize` floats per session. Every session's logits
    /// and cache are bit for bit those `sessions[s].forward(tokens: prompts[s], logits: .last)`
    /// gives alone, so a server can prefill the prompts that arrived together in one pass (each
    /// weight unpacked once for all of them) and still give every request the reply it would
    /// get by itself.
    ///
    /// Prompts share a pass when that equality holds by construction: the model's products all
    /// run on quantized kernels (each output row computed on its own), the session is in
    /// ``Numerics/fast`` with no adapters (adapter deltas are BLAS products whose float order
    /// depends on the row count), and the prompt has at least as many tokens as the panel
    /// kernels start at and fits one pass of the session (so alone it takes the same kernels);
    /// at most ``prefillGroup`` prompts a pass. Any other prompt is prefilled alone.
    ///
    /// - Throws: `ModelError` when a prompt is empty, has a token outside the vocabulary or does
    ///   not fit its session's context, a session belongs to another model, or a session appears
    ///   twice; no session has advanced then.
    public func prefill(_ sessions: [Session], prompts: [[Int32]]) throws -> [[Float]] {
        precondition(sessions.count == prompts.count, "one prompt per session")
        guard Set(sessions.map(ObjectIdentifier.init)).count == sessions.count else {
            throw ModelError(.inconsistent("a session appears twice in one prefill"))
        }
        for (s, (session, prompt)) in zip(sessions, prompts).enumerated() {
            guard session.model === model else { throw ModelError(.inconsistent("a session of another model in the batch")) }
            guard !prompt.isEmpty else { throw ModelError(.inconsistent("prompt \(s) has no tokens")) }
            if let bad = prompt.first(where: { $0 < 0 || Int($0) >= model.vocabularySize }) {
                throw ModelError(.tokenOutOfRange(token: Int(bad), vocabularySize: model.vocabularySize))
            }
            guard session.position + prompt.count <= session.contextLength else {
                throw ModelError(.contextFull(position: session.position, adding: prompt.count, contextLength: session.contextLength))
            }
        }
        var logits = [[Float]](repeating: [], count: sessions.count)
        var shared: [Int] = []
        // A prompt shares a pass only where it alone would take the panel form in every product
        // too (the same bits either way).
        let panelMinimum = blockMatrices.map(\.panelMinimum).max() ?? WeightMatrix.panelMinimumCount
        for (s, (session, prompt)) in zip(sessions, prompts).enumerated() {
            if allQuantized, session.numerics == .fast, session.adapters == nil,
               prompt.count >= panelMinimum, prompt.count <= min(session.batchSize, Self.prefillRows) {
                shared.append(s)
            } else {
                logits[s] = try session.forward(tokens: prompt, logits: .last).values
            }
        }
        // Balanced passes of at most `prefillGroup` prompts and `prefillRows` rows.
        var groups: [[Int]] = []
        let passes = (shared.count + Self.prefillGroup - 1) / Self.prefillGroup
        let size = passes == 0 ? 1 : (shared.count + passes - 1) / passes
        var rows = 0
        for s in shared {
            if groups.isEmpty || groups[groups.count - 1].count == size || rows + prompts[s].count > Self.prefillRows {
                groups.append([])
                rows = 0
            }
            groups[groups.count - 1].append(s)
            rows += prompts[s].count
        }
        let vocabulary = model.vocabularySize
        prefillState.adapters = nil
        prefillState.rowAdapters = nil
        for group in groups {
            let values = model.batchedPass(rows: group.map { prompts[$0] }, sessions: group.map { sessions[$0] }, state: prefillState)
            for (r, s) in group.enumerated() { logits[s] = Array(values[(r * vocabulary)..<((r + 1) * vocabulary)]) }
        }
        return logits
    }

    /// The logits after `tokens[s]` at the next position of `sessions[s]`, `vocabularySize`
    /// floats per session in order; each session advances by one position.
    ///
    /// - Throws: `ModelError` when a token is outside the vocabulary, a session is full, or a
    ///   session appears twice; nothing has advanced then.
    public func step(_ sessions: [Session], tokens: [Int32]) throws -> [Float] {
        precondition(sessions.count == tokens.count, "one token per session")
        guard !sessions.isEmpty else { return [] }
        for (session, token) in zip(sessions, tokens) {
            guard token >= 0, Int(token) < model.vocabularySize else {
                throw ModelError(.tokenOutOfRange(token: Int(token), vocabularySize: model.vocabularySize))
            }
            guard session.position < session.contextLength else {
                throw ModelError(.contextFull(position: session.position, adding: 1, contextLength: session.contextLength))
            }
            guard session.model === model else { throw ModelError(.inconsistent("a session of another model in the batch")) }
        }
        guard Set(sessions.map(ObjectIdentifier.init)).count == sessions.count else {
            throw ModelError(.inconsistent("a session appears twice in one batched step"))
        }
        state.adapters = nil
        state.rowAdapters = sessions.map(\.adapters)
        defer { state.rowAdapters = nil }
        return model.batchedPass(rows: tokens.map { [$0] }, sessions: sessions, state: state)
    }
}

extension Model {
    /// One pass of the layers over `rows[s]` at the next positions of `sessions[s]`, with the
    /// batch's activations in `state` (its own cache unused) and its adapters (``ForwardState/adapters``
    /// for every row, or ``ForwardState/rowAdapters``); the logits after each sequence's last
    /// row, one row per sequence. Every session advances by its row count.
    func batchedPass(rows: [[Int32]], sessions: [Session], state: ForwardState) -> [Float] {
        let c = configuration
        let tokens = rows.flatMap { $0 }
        let n = tokens.count, width = c.embeddingLength
        state.prepare(c, count: n, ropeDimensions: rotaryEmbedding.dimensions)
        let hidden = state.hidden.pointer
        var r = 0
        for (s, sequence) in rows.enumerated() {
            sessions[s].state.cache.reserve(sessions[s].position + sequence.count)
            for (t, token) in sequence.enumerated() {
                embedding.row(Int(token), into: hidden + r * width)
                state.setAngles(row: r, position: sessions[s].position + t, model: self)
                r += 1
            }
        }
        if let rowAdapters = state.rowAdapters {
            for (row, set) in rowAdapters.enumerated() where set.map({ !$0.embedding.isEmpty }) ?? false {
                set!.addEmbeddingDeltas(tokens: [Int(tokens[row])], into: hidden + row * width, numerics: state.numerics)
            }
        } else if let adapters = state.adapters, !adapters.embedding.isEmpty {
            adapters.addEmbeddingDeltas(tokens: tokens.map(Int.init), into: hidden, numerics: state.numerics)
        }
        scaleEmbeddings(hidden, rows: n)
        let segments = zip(sessions, rows).map { CacheSegment(cache: $0.state.cache, start: $0.position, count: $1.count) }
        // The last row of every sequence goes on through the last block's feed-forward layer,
        // gathered to the front.
        var lastRows: [Int] = []
        var end = 0
        for sequence in rows {
            end += sequence.count
            lastRows.append(end - 1)
        }
        for (index, layer) in layers.enumerated() {
            layer.forward(layer: index, count: n, start: 0, model: self, state: state, segments: segments,
                          outputRows: index == layers.count - 1 ? lastRows : nil)
        }
        for (session, sequence) in zip(sessions, rows) { session.advance(by: sequence.count) }
        let normed = state.normed.pointer
        let n2 = rows.count
        outputNorm.withUnsafeBufferPointer { w in
            Normalization.rmsNorm(hidden, rows: n2, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: normed)
        }
        var values = [Float](repeating: 0, count: n2 * vocabularySize)
        values.withUnsafeMutableBufferPointer { out in
            output.multiply(normed, count: n2, into: out.baseAddress!, workspace: state.matmul, numerics: state.numerics, pool: state.pool)
            state.addDeltas({ $0.output }, input: normed, count: n2, into: out.baseAddress!)
            capLogits(out.baseAddress!, count: out.count)
        }
        return values
    }
}
