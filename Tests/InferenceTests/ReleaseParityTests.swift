import Foundation
import LocoTestSupport
import Quantization
import Testing

/// The real default model (SmolLM2-135M-Instruct, shipped as Q4_1) and requantized copies, and a
/// random model whose widths are multiples of 256 in every K-quant, through the release-built
/// `loco logits` (a debug build is 10-50x slower; `scripts/test.sh` builds it first), against
/// llama.cpp's logits for every position of 300 tokens.
///
/// Tolerances. On quantized weights every product quantizes its input to 8 bits; a last-bit float
/// difference now and then moves one value across a rounding boundary, and that step grows
/// through the layers. So results are either bit-identical (same float order throughout) or as far
/// apart as any two float orders are. llama.cpp itself shows that spread between its own batched
/// and token-by-token passes (measured here: up to 2.0 of a largest logit of 38, same argmax on
/// 96-98.7% of positions), so that spread, measured in the test on the same tokens, is the bar:
/// our largest difference at most twice llama.cpp's own, our argmax agreement at most 5 points
/// below its own (two agreement rates near 97% over 256-300 positions each have a standard error
/// near 1 point; 5 points is about three standard errors of their difference). Where
/// `--numerics llama-cpp` reproduces ggml's order (Q8_0, Q4_0, Q4_1, Q2_K with AVX-512, Q3_K, Q4_K,
/// Q5_K, Q6_K; not TQ1_0/TQ2_0 and the F16 products), the logits must be bit-identical: with the
/// AVX-512 kernels against llama.cpp built for AVX-512, with the AVX2 ones against it built for
/// AVX2 (`Peers.llamaCppLibraryPath`). Under the scalar kernels they are held to the spread.
@Suite(.serialized) struct ReleaseParityTests {
    /// `LOCO_RELEASE_LOCO` may point at another release build (a separate scratch path).
    static var releaseLoco: String {
        ProcessInfo.processInfo.environment["LOCO_RELEASE_LOCO"] ?? Repository.path(".build/release/loco")
    }

    static var available: Bool {
        Peers.defaultModel != nil && LlamaCppPeer.available && FileManager.default.isExecutableFile(atPath: releaseLoco)
    }

    static let text = """
        <|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        <|im_start|>user
        Explain, in a few short paragraphs, why the sky is blue during the day and red at sunset. Mention Rayleigh \
        scattering, the wavelength dependence of scattering, and why clouds look white.<|im_end|>
        <|im_start|>assistant
        The sky looks blue because sunlight is scattered by the molecules of the air. This process is called Rayleigh \
        scattering, and it is much stronger for short wavelengths than for long ones: its strength grows as the inverse \
        fourth power of the wavelength, so blue light at 450 nanometres is scattered about five times more than red light \
        at 700 nanometres. When you look at any part of the sky away from the sun, you see this scattered light, and it \
        is mostly blue.
        At sunset the light from the sun travels through much more air before it reaches your eyes. Most of the blue \
        light has been scattered out of the beam along the way, so what remains is dominated by orange and red. Dust and \
        small particles near the horizon can make the colours even deeper.
        Clouds look white because their droplets are much larger than the wavelength of visible light. Large droplets \
        scatter all colours about equally (this is called Mie scattering), so the light they send towards you keeps the \
        mixture of colours of sunlight, which we see as white. Thick clouds look grey because less light gets through them.
        def fibonacci(n):
            a, b = 0, 1
            for _ in range(n):
                a, b = b, a + b
            return a
        print([fibonacci(i) for i in range(10)])
        """

    struct Run {
        var numerics = "fast"
        var decode = false
        /// `--adapter PATH --adapter-scale S` pairs.
        var adapters: [(String, Float)] = []
    }

    static func loco(_ model: String, tokens: [Int], _ run: Run) throws -> [Float] {
        let out = RandomModels.scratch("ours.f32")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var arguments = ["logits", "--model", model, "--tokens", tokens.map(String.init).joined(separator: ","), "--out", out,
                         "--numerics", run.numerics]
        if run.decode { arguments.append("--decode") }
        for (path, scale) in run.adapters { arguments += ["--adapter", path, "--adapter-scale", "\(scale)"] }
        let result = try LocoTestSupport.run(releaseLoco, arguments)
        try #require(result.status == 0, "loco logits: \(result.stderr)")
        return try LlamaCppPeer.readFloats(out)
    }

    static func quantize(_ input: String, _ type: QuantizationFileType, requantize: Bool) throws -> String {
        let output = RandomModels.scratch("\(type.rawValue).gguf")
        let result = try run(releaseLoco, ["quantize", input, output, type.rawValue, "--quiet"] + (requantize ? ["--allow-requantize"] : []))
        try #require(result.status == 0, "loco quantize: \(result.stderr)")
        return output
    }

    /// Our distance from llama.cpp's batched logits, against llama.cpp's own spread.
    static func check(model: String, tokens: [Int], vocabulary: Int, label: String, exactInLlamaCppOrder: Bool) throws {
        let batched = try LlamaCppPeer.logits(model: model, tokens: tokens)
        let sequential = try LlamaCppPeer.logits(model: model, tokens: tokens, sequential: true)
        let spread = LogitDistance(sequential, batched, vocabulary: vocabulary)
        for numerics in ["fast", "llama-cpp"] {
            let distance = LogitDistance(try loco(model, tokens: tokens, Run(numerics: numerics)), batched, vocabulary: vocabulary)
            let report = "\(label) --numerics \(numerics): \(distance); llama.cpp batched vs token by token: \(spread)"
            print(report)
            if exactInLlamaCppOrder && numerics == "llama-cpp" && Peers.llamaCppOrderIsExact {
                #expect(distance.maxAbsolute == 0, "\(report)")
            } else {
                #expect(distance.maxAbsolute <= 2 * spread.maxAbsolute, "\(report)")
                #expect(distance.argmaxAgreement >= spread.argmaxAgreement - 0.05, "\(report)")
            }
        }
    }

    @Test(arguments: [nil, QuantizationFileType.q8_0, .q4_0, .q4_K_M, .q6_K])
    func smolLM2MatchesLlamaCpp(_ type: QuantizationFileType?) throws {
        guard Self.available, let shipped = Peers.defaultModel else {
            #expect(!Peers.required, "the default model, llama-cpp-python and a release build of loco are required")
            return
        }
        let model = try type.map { try Self.quantize(shipped, $0, requantize: true) } ?? shipped
        defer { if type != nil { try? FileManager.default.removeItem(atPath: model) } }
        let tokens = try LlamaCppPeer.tokenize(model: shipped, text: Self.text, limit: 300)
        try #require(tokens.count == 300)
        try Self.check(model: model, tokens: tokens, vocabulary: 49152, label: "SmolLM2 \(type?.rawValue ?? "Q4_1 (shipped)")",
                       exactInLlamaCppOrder: true)
    }

    /// Token by token, llama.cpp runs its decode kernels (`vec_dot`, repacked `gemv`); in its order
    /// ours are bit-identical too.
    @Test(arguments: [nil, QuantizationFileType.q8_0, .q4_0, .q4_K_M, .q6_K])
    func smolLM2DecodeStepsAreBitIdenticalInLlamaCppOrder(_ type: QuantizationFileType?) throws {
        guard Self.available, let shipped = Peers.defaultModel else {
            #expect(!Peers.required, "the default model, llama-cpp-python and a release build of loco are required")
            return
        }
        guard Peers.llamaCppOrderIsExact else {
            print("skipped: llama.cpp's order is not reproduced on the \(Peers.kernelSet) kernels (the batched checks hold them to llama.cpp's spread)")
            return
        }
        let model = try type.map { try Self.quantize(shipped, $0, requantize: true) } ?? shipped
        defer { if type != nil { try? FileManager.default.removeItem(atPath: model) } }
        let tokens = Array(try LlamaCppPeer.tokenize(model: shipped, text: Self.text, limit: 120))
        let theirs = try LlamaCppPeer.logits(model: model, tokens: tokens, sequential: true)
        let ours = try Self.loco(model, tokens: tokens, Run(numerics: "llama-cpp", decode: true))
        #expect(LogitDistance(ours, theirs, vocabulary: 49152).maxAbsolute == 0)
    }

    /// The random bitnet model (``RandomModels``) in its ternary types: bit-identical in llama.cpp's
    /// order (`loco_ggml_vec_dot_tq*`: ggml's AVX2 lanes, which its AVX-512 build runs too), fast
    /// within llama.cpp's batched-vs-token-by-token spread. (No real BitNet model can be installed
    /// here.)
    @Test(arguments: [QuantizationFileType.tq1_0, .tq2_0])
    func ternaryBitnetMatchesLlamaCpp(_ type: QuantizationFileType) throws {
        guard Self.available else {
            #expect(!Peers.required, "llama-cpp-python and a release build of loco are required")
            return
        }
        let model = try Self.quantize(try RandomModels.path("bitnet-f32"), type, requantize: false)
        defer { try? FileManager.default.removeItem(atPath: model) }
        let tokens = (0..<160).map { ($0 * 7919 + 13) % 509 }
        try Self.check(model: model, tokens: tokens, vocabulary: 512, label: "random bitnet \(type.rawValue)", exactInLlamaCppOrder: true)
    }

    @Test(arguments: [QuantizationFileType.q2_K, .q3_K_M, .q4_K_M, .q5_K_M, .q6_K, .tq1_0, .tq2_0])
    func kQuantRandomModelMatchesLlamaCpp(_ type: QuantizationFileType) throws {
        guard Self.available else {
            #expect(!Peers.required, "llama-cpp-python and a release build of loco are required")
            return
        }
        let source = RandomModels.scratch("k-widths.gguf")
        defer { try? FileManager.default.removeItem(atPath: source) }
        let made = try run("python3", [Repository.path("scripts/make-random-model.py"), source, "--arch", "llama", "--layers", "4",
                                       "--width", "512", "--ffn", "1024", "--heads", "8", "--kv-heads", "2", "--vocab", "768", "--seed", "3"])
        try #require(made.status == 0, "make-random-model.py: \(made.stderr)")
        let model = try Self.quantize(source, type, requantize: false)
        defer { try? FileManager.default.removeItem(atPath: model) }
        let tokens = (0..<256).map { ($0 * 7919 + 11) % 768 }
        // Q2_K is exact where ggml repacks it (its AVX-512 build, which the AVX-512 kernel set is
        // compared with).
        let exact: [QuantizationFileType] = [.q3_K_M, .q4_K_M, .q5_K_M, .q6_K, .tq1_0, .tq2_0] + (Peers.kernelSet == .avx512 ? [.q2_K] : [])
        try Self.check(model: model, tokens: tokens, vocabulary: 768, label: "random 512/1024 \(type.rawValue)",
                       exactInLlamaCppOrder: exact.contains(type))
    }
}
