import Foundation

/// Small random models written by `scripts/make-random-model.py` (deterministic per seed), made
/// once per test process into a temporary folder.
public enum RandomModels {
    /// The models the parity tests use, by name, with the script arguments that make them.
    public static let recipes: [String: [String]] = [
        // 4 layers, width 256, 4 heads over 1 KV head (n_gqa 4), untied output, F32.
        "llama-f32": ["--arch", "llama", "--layers", "4", "--width", "256", "--ffn", "256", "--heads", "4", "--kv-heads", "1", "--seed", "1"],
        // 8 layers (the recipes' layer rules differ), tied embeddings, F16 weights, head dim 128.
        "qwen3-f32": ["--arch", "qwen3", "--layers", "4", "--width", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "2",
                      "--head-dim", "128", "--seed", "5"],
        // 6 blocks: 0-4 with a sliding window of 8 positions (RoPE base 10000), 5 global (1e6);
        // Q/K norms, post-norms, GeGLU, tied output.
        "gemma3-f32": ["--arch", "gemma3", "--layers", "6", "--width", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "1",
                       "--head-dim", "64", "--vocab", "512", "--window", "8", "--seed", "7"],
        // The same shape with embeddings as small as a real Gemma's (the gradient check's loss then
        // stays near its real size; with the above it is ~250 per token and its float noise hides
        // a 1e-4 check).
        "gemma3-f32-small": ["--arch", "gemma3", "--layers", "6", "--width", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "1",
                             "--head-dim", "64", "--vocab", "512", "--window", "8", "--seed", "7", "--small-embeddings"],
        // Biases on q, k and v; 2 KV heads of 64, untied output.
        "qwen2-f32": ["--arch", "qwen2", "--layers", "4", "--width", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "2",
                      "--seed", "11"],
        // BitNet's block (sub-norms before the attention output and down projections, NEOX RoPE,
        // tied output) with a per-tensor scale on every projection; 2 KV heads of 64.
        "bitnet-f32": ["--arch", "bitnet", "--layers", "3", "--width", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "2",
                       "--scales", "--seed", "13"],
        "qwen3-f16-tied": ["--arch", "qwen3", "--layers", "8", "--width", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "2",
                           "--head-dim", "128", "--tied", "--f16", "--seed", "2"],
    ]

    nonisolated(unsafe) private static var made: [String: String] = [:]
    private static let lock = NSLock()
    private static let folder: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loco-random-models-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// The path of the model `name`, writing it on first use.
    public static func path(_ name: String) throws -> String {
        try lock.withLock {
            if let path = made[name] { return path }
            guard let arguments = recipes[name] else { throw PeerError.failed("no random model named \(name)") }
            let path = folder + "/\(name).gguf"
            let result = try run("python3", [Repository.path("scripts/make-random-model.py"), path] + arguments)
            guard result.status == 0 else { throw PeerError.failed("make-random-model.py \(name): \(result.stderr)") }
            made[name] = path
            return path
        }
    }

    /// A fresh temporary file path for outputs.
    public static func scratch(_ name: String) -> String { folder + "/\(UUID().uuidString)-\(name)" }
}
