import Foundation
import LocoLLM
import Synchronization

/// What a request asks to generate, once its model, adapter and prompt are resolved.
struct GenerationJob: Sendable {
    var prompt: [Int32]
    var adapters: AdapterSet?
    var options: GenerationOptions
    /// Positions the request may use (its `num_ctx`, at most the server's).
    var contextLength: Int
    /// Log-probabilities of every prompt token after the first (`echo` with `logprobs`).
    var promptLogprobs = false
    /// nil: no log-probabilities; N: each token's, with the N most likely alternatives.
    var topLogprobs: Int?
}

/// A token's log-probability under the model (the logits' log-softmax, before any sampling
/// setting), with the most likely tokens at that position.
struct TokenLogprob: Sendable {
    var token: Int32
    var logprob: Double
    var top: [(token: Int32, logprob: Double)]
}

/// What the scheduler reports of one job, in order: `prefilled`, `token`s, then `finished` or
/// `failed`.
enum JobEvent: Sendable {
    /// The prompt is in the cache. `waited` is the time in the queue; `promptLogprobs[i]` is the
    /// log-probability of prompt token `i` (nil for the first).
    case prefilled(promptTokens: Int, waited: Double, seconds: Double, promptLogprobs: [TokenLogprob?]?)
    case token(Int32, text: String, logprob: TokenLogprob?)
    case finished(reason: StopReason, generated: Int, decodeSeconds: Double)
    case failed(ServerError)
}

/// Runs every generation of the server on one compute thread: continuous batching. Each loop
/// admits waiting jobs into free slots (up to `parallel`), prefills the new prompts (together
/// where the decoder can do so without changing any prompt's bits), then
/// advances every running reply by one token in one ``BatchDecoder`` step, whatever adapters they
/// carry. Replies are row-invariant, so a reply is the same whether it ran alone or beside 15
/// others. Jobs beyond `parallel` wait in a queue of at most `maxQueue`; a full queue refuses
/// new jobs (the HTTP layer answers 503). A job whose client went away (its event stream was
/// dropped) is cancelled at the next step and its slot freed.
final class Scheduler: @unchecked Sendable {
    let engine: Engine
    let parallel: Int
    let maxQueue: Int
    let contextLength: Int
    let metrics: ServerMetrics

    private final class Ticket: Sendable {
        let job: GenerationJob
        let continuation: AsyncStream<JobEvent>.Continuation
        let cancelled = Atomic<Bool>(false)
        let enqueued = ContinuousClock.now
        init(job: GenerationJob, continuation: AsyncStream<JobEvent>.Continuation) {
            self.job = job
            self.continuation = continuation
        }
    }

    /// A running reply; touched by the compute thread only.
    private final class Running {
        let ticket: Ticket
        let session: Session
        var cursor: ReplyCursor
        var pending: Int32 = 0
        var firstToken: ContinuousClock.Instant?
        init(ticket: Ticket, session: Session, cursor: ReplyCursor) {
            self.ticket = ticket
            self.session = session
            self.cursor = cursor
        }
    }

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var waiting: [Ticket] = []
    private var tasks: [@Sendable () -> Void] = []
    private var runningCount = 0
    // The compute thread's own.
    private var running: [Running] = []
    private var idleSessions: [Session] = []
    private let decoder: BatchDecoder

    init(engine: Engine, parallel: Int, maxQueue: Int, contextLength: Int, metrics: ServerMetrics) {
        self.engine = engine
        self.parallel = parallel
        self.maxQueue = maxQueue
        self.contextLength = contextLength
        self.metrics = metrics
        decoder = BatchDecoder(model: engine.model)
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "loco-serve-compute"
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Queues `job`; its events arrive on the stream. Dropping the stream cancels the job.
    ///
    /// - Throws: ``ServerError`` (503) when `maxQueue` jobs are already waiting.
    func submit(_ job: GenerationJob) throws(ServerError) -> AsyncStream<JobEvent> {
        let (stream, continuation) = AsyncStream<JobEvent>.makeStream(bufferingPolicy: .unbounded)
        let ticket = Ticket(job: job, continuation: continuation)
        continuation.onTermination = { [weak self, weak ticket] termination in
            guard case .cancelled = termination, let ticket else { return }
            ticket.cancelled.store(true, ordering: .relaxed)
            self?.wake()
        }
        condition.lock()
        // `parallel` jobs run and `maxQueue` more may wait: a job queued a moment ago that a free
        // slot will take counts as running, not as waiting.
        let outstanding = runningCount + waiting.filter({ !$0.cancelled.load(ordering: .relaxed) }).count
        guard outstanding < parallel + maxQueue else {
            condition.unlock()
            metrics.rejected.increment()
            throw ServerError(.serviceUnavailable, "the server is busy: \(parallel) replies running and \(maxQueue) waiting; retry shortly",
                              retryAfter: 1)
        }
        waiting.append(ticket)
        metrics.queueDepth.set(Double(waiting.count))
        condition.signal()
        condition.unlock()
        return stream
    }

    /// Runs `work` on the compute thread between two steps (embeddings, routing: model work that
    /// must not run beside a step on the same pool).
    func perform<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            condition.lock()
            tasks.append { continuation.resume(with: Result { try work() }) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Jobs waiting for a slot, and replies running.
    var load: (waiting: Int, running: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (waiting.count, runningCount)
    }

    private func wake() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    // MARK: The compute thread

    private func loop() {
        while true {
            condition.lock()
            while waiting.isEmpty && tasks.isEmpty && running.isEmpty { condition.wait() }
            let work = tasks
            tasks = []
            // Cancelled waiting jobs leave the queue without running.
            waiting.removeAll { $0.cancelled.load(ordering: .relaxed) }
            let admitted = Array(waiting.prefix(max(0, parallel - running.count)))
            waiting.removeFirst(admitted.count)
            runningCount = running.count + admitted.count
            metrics.queueDepth.set(Double(waiting.count))
            condition.unlock()

            for task in work { task() }
            start(admitted)
            retire()
            if !running.isEmpty { step() }
            retire()
        }
    }

    /// Prefills the prompts of `tickets`, admitted together, and samples their first tokens:
    /// those the decoder can prefill in shared passes (``BatchDecoder/prefill(_:prompts:)``,
    /// each prompt's logits and cache as it gets them alone), the rest one by one.
    private func start(_ tickets: [Ticket]) {
        let live = tickets.filter { !$0.cancelled.load(ordering: .relaxed) }
        let together = live.filter { !$0.job.promptLogprobs }
        guard together.count > 1 else {
            for ticket in live { start(ticket) }
            return
        }
        let sessions = together.map { ticket -> Session in
            let session = idleSessions.popLast() ?? engine.makeSession(contextLength: contextLength)
            session.reset()
            session.adapters = ticket.job.adapters
            return session
        }
        let begin = ContinuousClock.now
        guard let logits = try? decoder.prefill(sessions, prompts: together.map(\.job.prompt)) else {
            // Some prompt is refused: each job alone, so that only that one fails, with its reason.
            idleSessions.append(contentsOf: sessions)
            for ticket in live { start(ticket) }
            return
        }
        let seconds = (ContinuousClock.now - begin).seconds
        for (index, ticket) in together.enumerated() {
            let values = logits[index]
            started(ticket, session: sessions[index], seconds: seconds,
                    logits: Logits(positions: 1, vocabularySize: values.count, values: values))
        }
        for ticket in live where ticket.job.promptLogprobs { start(ticket) }
    }

    /// Prefills `ticket`'s prompt alone on a free session and samples its first token.
    private func start(_ ticket: Ticket) {
        let job = ticket.job
        if ticket.cancelled.load(ordering: .relaxed) { return }
        let session = idleSessions.popLast() ?? engine.makeSession(contextLength: contextLength)
        session.reset()
        session.adapters = job.adapters
        let begin = ContinuousClock.now
        let logits: Logits
        do {
            logits = try session.forward(tokens: job.prompt, logits: job.promptLogprobs ? .all : .last)
        } catch {
            idleSessions.append(session)
            ticket.continuation.yield(.failed(ServerError(.badRequest, "\(error)")))
            ticket.continuation.finish()
            return
        }
        started(ticket, session: session, seconds: (ContinuousClock.now - begin).seconds, logits: logits)
    }

    /// Reports `ticket`'s prefill (`seconds`, its `logits`: every position's with prompt
    /// log-probabilities, else the last) and samples its first token.
    private func started(_ ticket: Ticket, session: Session, seconds: Double, logits: Logits) {
        let job = ticket.job
        let waited = (ContinuousClock.now - ticket.enqueued).seconds - seconds
        metrics.promptTokens.increment(by: Int64(job.prompt.count))
        metrics.timeToFirstToken.record(Duration.seconds(waited + seconds))
        var promptLogprobs: [TokenLogprob?]?
        if job.promptLogprobs {
            let v = logits.vocabularySize
            promptLogprobs = [nil] + (1..<max(1, job.prompt.count)).map { i in
                Logprobs.of(token: job.prompt[i], in: logits.values[((i - 1) * v)..<(i * v)], top: job.topLogprobs ?? 0)
            }
        }
        ticket.continuation.yield(.prefilled(promptTokens: job.prompt.count, waited: waited, seconds: seconds,
                                             promptLogprobs: promptLogprobs))
        let last = Array(logits.values.suffix(logits.vocabularySize))
        let entry = Running(ticket: ticket, session: session, cursor: ReplyCursor(prompt: job.prompt, tokenizer: engine.tokenizer,
                                                                                  options: job.options))
        running.append(entry)
        if entry.cursor.stopReason == nil { advance(entry, logits: last) }
    }

    /// Samples `entry`'s next token from `logits` and reports it.
    private func advance(_ entry: Running, logits: [Float]) {
        let room = entry.session.position < entry.ticket.job.contextLength
        let step = entry.cursor.next(logits: logits, room: room)
        if entry.firstToken == nil { entry.firstToken = .now }
        let logprob = entry.ticket.job.topLogprobs.map { Logprobs.of(token: step.token, in: logits[...], top: $0) }
        entry.ticket.continuation.yield(.token(step.token, text: step.text, logprob: logprob))
        entry.pending = step.token
    }

    /// One batched decode step over every running reply.
    private func step() {
        let batch = running.filter { $0.cursor.stopReason == nil }
        guard !batch.isEmpty else { return }
        let begin = ContinuousClock.now
        let logits: [Float]
        do {
            logits = try decoder.step(batch.map(\.session), tokens: batch.map(\.pending))
        } catch {
            for entry in batch {
                _ = entry.cursor.cancel()
                entry.ticket.continuation.yield(.failed(ServerError(.internalError, "decoding failed: \(error)")))
            }
            return
        }
        let v = engine.model.vocabularySize
        for (row, entry) in batch.enumerated() {
            advance(entry, logits: Array(logits[(row * v)..<((row + 1) * v)]))
        }
        let seconds = (ContinuousClock.now - begin).seconds
        metrics.generatedTokens.increment(by: Int64(batch.count))
        metrics.decodeTokensPerSecond.set(seconds > 0 ? Double(batch.count) / seconds : 0)
    }

    /// Reports and removes replies that ended or whose clients left; their sessions are reused.
    private func retire() {
        var kept: [Running] = []
        for entry in running {
            if entry.cursor.stopReason == nil && entry.ticket.cancelled.load(ordering: .relaxed) {
                _ = entry.cursor.cancel()
                metrics.cancelled.increment()
            }
            guard let reason = entry.cursor.stopReason else {
                kept.append(entry)
                continue
            }
            let decode = entry.firstToken.map { (ContinuousClock.now - $0).seconds } ?? 0
            entry.ticket.continuation.yield(.finished(reason: reason, generated: entry.cursor.tokens.count, decodeSeconds: decode))
            entry.ticket.continuation.finish()
            entry.session.adapters = nil
            idleSessions.append(entry.session)
        }
        running = kept
        condition.lock()
        runningCount = running.count
        condition.unlock()
        metrics.activeSequences.set(Double(running.count))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// Log-softmax of one row of logits.
enum Logprobs {
    /// `token`'s log-probability in `row`, with the `top` most likely tokens (highest first,
    /// ties by lower id).
    static func of(token: Int32, in row: ArraySlice<Float>, top: Int) -> TokenLogprob {
        // The same arithmetic as `loco eval run`'s scores (Perplexity.logSoftmax), so that a
        // log-likelihood summed from these equals its, bit for bit.
        let base = row.startIndex
        let peak = Double(row.max() ?? 0)
        let sum = row.reduce(0.0) { $0 + Foundation.exp(Double($1) - peak) }
        var best: [(token: Int32, logprob: Double)] = []
        if top > 0 {
            // A partial selection: keep the `top` largest seen so far.
            var kept: [(Int, Float)] = []
            for (i, x) in row.enumerated() {
                if kept.count < top || x > kept[kept.count - 1].1 {
                    let at = kept.firstIndex { x > $0.1 } ?? kept.count
                    kept.insert((i, x), at: at)
                    if kept.count > top { kept.removeLast() }
                }
            }
            best = kept.map { (Int32($0.0), Double($0.1) - peak - Foundation.log(sum)) }
        }
        return TokenLogprob(token: token, logprob: Double(row[base + Int(token)]) - peak - Foundation.log(sum), top: best)
    }
}
