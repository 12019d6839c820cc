import Foundation
import Adapters
import LocoTestSupport
import Testing

/// Adapters for the random test models, written once per test process by
/// `scripts/make-lora-fixtures.py`: a GGUF LoRA by gguf-py (F32 and F16), the same adapter as PEFT
/// folders written by numpy (F32, F16, BF16), and its exact values.
struct LoRAFixture: Sendable {
    /// The base model the adapter was made for.
    let base: String
    let folder: String

    var gguf: String { folder + "/adapter.gguf" }
    var ggufF16: String { folder + "/adapter-f16.gguf" }
    func peft(_ dtype: String) -> String { folder + "/peft-\(dtype)" }
    var expectedFolder: String { folder + "/expected" }

    /// llama-f32 (4 blocks, width 256, untied output): rank 8, alpha 16, every block matrix plus
    /// the token embedding and the output layer.
    static func llama() throws -> LoRAFixture {
        try make("llama", base: "llama-f32", ["--rank", "8", "--alpha", "16", "--seed", "3", "--targets",
                                               "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down,token_embd,output"])
    }

    /// qwen3-f16-tied (8 blocks, queries 512 wide): rank 4, alpha 8 (scale 2), attention only.
    static func qwen3() throws -> LoRAFixture {
        try make("qwen3", base: "qwen3-f16-tied", ["--rank", "4", "--alpha", "8", "--seed", "4", "--targets",
                                                    "attn_q,attn_k,attn_v,attn_output"])
    }

    /// Whether the fixtures can be made (python3 with numpy and gguf); records a failure when the
    /// peers are required.
    static var available: Bool {
        let has = Peers.pythonHas("gguf")
        if !has { #expect(!Peers.required, "python3 with gguf is required (LOCO_REQUIRE_PEERS=1)") }
        return has
    }

    /// The exact adapter the script wrote: architecture, alpha, rank and every A and B.
    func expected() throws -> (architecture: String, alpha: Float, rank: Int, weights: [String: LoRAWeights], order: [String]) {
        struct Manifest: Decodable {
            struct Target: Decodable {
                var name: String
                var a_shape: [Int]
                var b_shape: [Int]
            }
            var architecture: String
            var alpha: Float
            var rank: Int
            var targets: [Target]
        }
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: expectedFolder + "/manifest.json")))
        func matrix(_ file: String, _ shape: [Int]) throws -> LoRAMatrix {
            let data = try Data(contentsOf: URL(fileURLWithPath: expectedFolder + "/" + file))
            var values = [Float](repeating: 0, count: data.count / 4)
            _ = values.withUnsafeMutableBytes { data.copyBytes(to: $0) }
            return LoRAMatrix(rows: shape[0], columns: shape[1], values: values)
        }
        var weights: [String: LoRAWeights] = [:]
        for target in manifest.targets {
            weights[target.name] = LoRAWeights(a: try matrix(target.name + ".a.f32", target.a_shape),
                                               b: try matrix(target.name + ".b.f32", target.b_shape))
        }
        return (manifest.architecture, manifest.alpha, manifest.rank, weights, manifest.targets.map(\.name))
    }

    nonisolated(unsafe) private static var made: [String: LoRAFixture] = [:]
    private static let lock = NSLock()

    private static func make(_ name: String, base model: String, _ arguments: [String]) throws -> LoRAFixture {
        try lock.withLock {
            if let fixture = made[name] { return fixture }
            let base = try RandomModels.path(model)
            let folder = RandomModels.scratch("lora-\(name)")
            let result = try run("python3", [Repository.path("scripts/make-lora-fixtures.py"), base, folder] + arguments)
            guard result.status == 0 else { throw PeerError.failed("make-lora-fixtures.py \(name): \(result.stderr)") }
            let fixture = LoRAFixture(base: base, folder: folder)
            made[name] = fixture
            return fixture
        }
    }
}

/// Runs `body`, which must throw a LoRAError whose kind satisfies `check`; returns the error.
@discardableResult
func expectLoRAError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void, _ check: (LoRAError.Kind) -> Bool
) -> LoRAError? {
    do {
        try body()
        Issue.record("no error thrown", sourceLocation: sourceLocation)
    } catch let error as LoRAError {
        #expect(check(error.kind), "unexpected error: \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("not a LoRAError: \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A small in-memory adapter: `targets` with A of `rank x inputs` and B of `outputs x rank`.
func memoryAdapter(_ targets: [String: (inputs: Int, outputs: Int)], rank: Int = 2, alpha: Float = 4,
                   architecture: String? = nil) throws -> LoRAAdapter {
    var weights: [String: LoRAWeights] = [:]
    for (name, size) in targets {
        let a = LoRAMatrix(rows: rank, columns: size.inputs, values: (0..<(rank * size.inputs)).map { Float($0 % 7) - 3 })
        let b = LoRAMatrix(rows: size.outputs, columns: rank, values: (0..<(rank * size.outputs)).map { Float($0 % 5) / 4 + 0.25 })
        weights[name] = LoRAWeights(a: a, b: b)
    }
    return try LoRAAdapter(weights: weights, alpha: alpha, metadata: .init(baseArchitecture: architecture))
}
