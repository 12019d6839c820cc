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

    private struct Sequence {
        var sampler: Sampler
        var history: [Int32]
        var detokenizer: StreamingDetokenizer
        var stopper: StopStringFilter
        var logits: [Float]
        var reply = Reply(text: "", tokens: [], stopReason: .maxTokens)
        var done = false
    }

    /// The replies to `prompts` (token ids, each shorter than the context), in order, with
    /// `adapters` on every sequence.
    public func generate(prompts: [[Int32]], options: GenerationOptions, adapters: AdapterSet? = nil) throws -> [Reply] {
        while sessions.count < prompts.count {
            sessions.append(model.makeSession(contextLength: contextLength, numerics: numerics, pool: pool))
        }
        var sequences: [Sequence] = []
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
            sequences.append(Sequence(sampler: Sampler(options.sampler), history: prompt, detokenizer: StreamingDetokenizer(tokenizer: tokenizer),
                                      stopper: StopStringFilter(stops: options.stopStrings), logits: []))
        }
        // Prompts are prefilled together, as many as `prefillRows` rows hold per pass (one that
        // does not fit alone runs on its own session in passes).
        var group: [Int] = [], rows = 0
        func flush() {
            guard !group.isEmpty else { return }
            let logits = step(rows: group.map { prompts[$0] }, sessions: group.map { sessions[$0] }, adapters: adapters)
            let vocabulary = model.vocabularySize
            for (r, index) in group.enumerated() { sequences[index].logits = Array(logits[(r * vocabulary)..<((r + 1) * vocabulary)]) }
            group = []
            rows = 0
        }
        for (i, prompt) in prompts.enumerated() {
            if prompt.count > Self.prefillRows {
                sequences[i].logits = try sessions[i].forward(tokens: prompt, logits: .last).values
                continue
            }
            if rows + prompt.count > Self.prefillRows { flush() }
            group.append(i)
            rows += prompt.count
        }
        flush()
        while true {
            var next: [(index: Int, token: Int32)] = []
            for i in sequences.indices where !sequences[i].done {
                var sequence = sequences[i]
                let token = sequence.sampler.sample(logits: sequence.logits, history: sequence.history)
                sequence.reply.tokens.append(token)
                if options.stopAtEndOfGeneration && tokenizer.isEndOfGeneration(token) {
                    sequence.reply.stopReason = .endOfGeneration
                    sequence.done = true
                } else {
                    let (text, hitStop) = sequence.stopper.feed(sequence.detokenizer.append(token))
                    sequence.reply.text += text
                    if hitStop {
                        sequence.reply.stopReason = .stopString
                        sequence.done = true
                    } else if sequence.reply.tokens.count >= options.maxTokens {
                        sequence.done = true
                    } else if sessions[i].position >= contextLength {
                        sequence.reply.stopReason = .contextFull
                        sequence.done = true
                    } else {
                        sequence.history.append(token)
                        next.append((i, token))
                    }
                }
                if sequence.done && sequence.reply.stopReason != .stopString {
                    let (tail, _) = sequence.stopper.feed(sequence.detokenizer.finish())
                    sequence.reply.text += tail + sequence.stopper.flush()
                }
                sequences[i] = sequence
            }
            guard !next.isEmpty else { break }
            let rows = step(rows: next.map { [$0.token] }, sessions: next.map { sessions[$0.index] }, adapters: adapters)
            let vocabulary = model.vocabularySize
            for (r, entry) in next.enumerated() {
                sequences[entry.index].logits = Array(rows[(r * vocabulary)..<((r + 1) * vocabulary)])
            }
        }
        return sequences.map(\.reply)
    }

    /// Rows one prefill pass takes at most.
    static let prefillRows = 2048

    /// One pass: `rows[s]` at the next positions of `sessions[s]`; the logits after each
    /// sequence's last row, one row per sequence.
    private func step(rows: [[Int32]], sessions: [Session], adapters: AdapterSet?) -> [Float] {
        let c = model.configuration
        let tokens = rows.flatMap { $0 }
        let n = tokens.count, width = c.embeddingLength, dimensions = model.rotaryEmbedding.dimensions
        state.adapters = adapters
        state.prepare(c, count: n, ropeDimensions: dimensions)
        let hidden = state.hidden.pointer
        var r = 0
        for (s, sequence) in rows.enumerated() {
            sessions[s].state.cache.reserve(sessions[s].position + sequence.count)
            for (t, token) in sequence.enumerated() {
                model.embedding.row(Int(token), into: hidden + r * width)
                state.setAngles(row: r, position: sessions[s].position + t, model: model)
                r += 1
            }
        }
        if let adapters, !adapters.embedding.isEmpty {
            adapters.addEmbeddingDeltas(tokens: tokens.map(Int.init), into: hidden, numerics: numerics)
        }
        model.scaleEmbeddings(hidden, rows: n)
        let segments = zip(sessions, rows).map { CacheSegment(cache: $0.state.cache, start: $0.position, count: $1.count) }
        // The last row of every sequence goes on through the last block's feed-forward layer,
        // gathered to the front.
        var lastRows: [Int] = []
        var end = 0
        for sequence in rows {
            end += sequence.count
            lastRows.append(end - 1)
        }
        for (index, layer) in model.layers.enumerated() {
            layer.forward(layer: index, count: n, start: 0, model: model, state: state, segments: segments,
                          outputRows: index == model.layers.count - 1 ? lastRows : nil)
        }
        for (session, sequence) in zip(sessions, rows) { session.advance(by: sequence.count) }
        let normed = state.normed.pointer
        let n2 = rows.count
        model.outputNorm.withUnsafeBufferPointer { w in
            Normalization.rmsNorm(hidden, rows: n2, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: normed)
        }
        var values = [Float](repeating: 0, count: n2 * model.vocabularySize)
        values.withUnsafeMutableBufferPointer { out in
            model.output.multiply(normed, count: n2, into: out.baseAddress!, workspace: state.matmul, numerics: numerics, pool: pool)
            if let adapters {
                AdapterSet.apply(adapters.output, input: normed, count: n2, into: out.baseAddress!, numerics: numerics)
            }
            model.capLogits(out.baseAddress!, count: out.count)
        }
        return values
    }
}
