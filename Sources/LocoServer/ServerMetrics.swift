import Prometheus

/// What `/metrics` exposes, in Prometheus' text format.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let queueDepth: Gauge
    let activeSequences: Gauge
    let decodeTokensPerSecond: Gauge
    let generatedTokens: Counter
    let promptTokens: Counter
    let rejected: Counter
    let cancelled: Counter
    let timeToFirstToken: DurationHistogram

    init() {
        queueDepth = registry.makeGauge(name: "loco_queue_depth", help: "Requests waiting for a decoding slot.")
        activeSequences = registry.makeGauge(name: "loco_active_sequences", help: "Replies being decoded together.")
        decodeTokensPerSecond = registry.makeGauge(
            name: "loco_decode_tokens_per_second", help: "Tokens per second of the last batched decode step, all replies together.")
        generatedTokens = registry.makeCounter(name: "loco_generated_tokens_total", help: "Tokens generated.")
        promptTokens = registry.makeCounter(name: "loco_prompt_tokens_total", help: "Prompt tokens prefilled.")
        rejected = registry.makeCounter(name: "loco_rejected_requests_total", help: "Requests refused with 503 because the queue was full.")
        cancelled = registry.makeCounter(name: "loco_cancelled_requests_total", help: "Replies stopped because their client went away.")
        timeToFirstToken = registry.makeDurationHistogram(
            name: "loco_time_to_first_token_seconds",
            buckets: [.milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                      .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)],
            help: "Time from queueing to the prompt being prefilled.")
    }

    func requests(_ route: String, status: Int) -> Counter {
        registry.makeCounter(name: "loco_http_requests_total", labels: [("route", route), ("status", String(status))],
                             help: "HTTP requests by route and status.")
    }

    func text() -> String { registry.emitToString() }
}
