/// How `loco serve` runs: where it listens, who may call it, and its bounds.
public struct ServerConfiguration: Sendable {
    /// The address to bind: loopback unless said otherwise.
    public var host = "127.0.0.1"
    /// The port (0: any free one; the server says which).
    public var port = 11434
    /// With a key, every route but `/health` needs `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Replies decoded together in one batched step.
    public var parallel = 4
    /// Requests that may wait for a slot; past it, 503 with `Retry-After`.
    public var maxQueue = 64
    /// Positions each reply's session holds (a request's `num_ctx` may ask for fewer).
    public var contextLength = 4096
    /// The largest request body, in bytes.
    public var maxBodyBytes = 4 << 20
    /// New tokens a request may ask for, and the default when it does not say.
    public var maxPredict = 2048
    /// The base's name in the APIs (nil: from the model file's name).
    public var modelName: String?

    public init() {}
}
