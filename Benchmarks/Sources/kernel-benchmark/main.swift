// Throughput of the quantized row kernels in CKernels on one core, in GB/s of weight bytes read:
// dot products of weight rows with one quantized activation vector (a matrix-vector product) and
// row dequantization, for a row set that stays in L2 and for a matrix streamed from memory. A plain
// read of the same streaming buffer gives this run's memory bandwidth, the figure to compare with.
// With --ggml DIR (llama-cpp-python's lib folder) the same loops also run ggml's own vec_dot and
// to_float from libggml-cpu / libggml-base, called directly through dlopen (no per-call overhead
// beyond a C call), on the same bytes: its activation bytes are ours (the tests check that).
//
//     swift build -c release --product kernel-benchmark
//     .build/release/kernel-benchmark [--formats q4_0,q8_0,...] [--values N] [--l2-kb K]
//                                     [--stream-mb M] [--passes P] [--variant NAME] [--ggml DIR] [--json]
import CKernels
import Foundation

struct Format {
    var name: String
    var ggmlType: Int32
    var blockValues: Int
    var blockBytes: Int
    var halves: [Int]
    var activation: Activation
    var dot: (Int, UnsafeRawPointer?, UnsafeRawPointer?) -> Float
    var dequantize: (UnsafeRawPointer?, UnsafeMutablePointer<Float>?, Int) -> Void
}

enum Activation: String {
    case q8_0, q8_1, q8_K

    var blockValues: Int { self == .q8_K ? 256 : 32 }
    var blockBytes: Int { [.q8_0: 34, .q8_1: 36, .q8_K: 292][self]! }
    var quantize: (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int) -> Void {
        switch self {
        case .q8_0: loco_quantize_row_q8_0
        case .q8_1: loco_quantize_row_q8_1
        case .q8_K: loco_quantize_row_q8_K
        }
    }
}

let allFormats: [Format] = [
    Format(name: "q4_0", ggmlType: 2, blockValues: 32, blockBytes: 18, halves: [0], activation: .q8_0, dot: loco_vec_dot_q4_0_q8_0, dequantize: loco_dequantize_row_q4_0),
    Format(name: "q4_1", ggmlType: 3, blockValues: 32, blockBytes: 20, halves: [0, 2], activation: .q8_1, dot: loco_vec_dot_q4_1_q8_1, dequantize: loco_dequantize_row_q4_1),
    Format(name: "q5_0", ggmlType: 6, blockValues: 32, blockBytes: 22, halves: [0], activation: .q8_0, dot: loco_vec_dot_q5_0_q8_0, dequantize: loco_dequantize_row_q5_0),
    Format(name: "q5_1", ggmlType: 7, blockValues: 32, blockBytes: 24, halves: [0, 2], activation: .q8_1, dot: loco_vec_dot_q5_1_q8_1, dequantize: loco_dequantize_row_q5_1),
    Format(name: "q8_0", ggmlType: 8, blockValues: 32, blockBytes: 34, halves: [0], activation: .q8_0, dot: loco_vec_dot_q8_0_q8_0, dequantize: loco_dequantize_row_q8_0),
    Format(name: "q2_K", ggmlType: 10, blockValues: 256, blockBytes: 84, halves: [80, 82], activation: .q8_K, dot: loco_vec_dot_q2_K_q8_K, dequantize: loco_dequantize_row_q2_K),
    Format(name: "q3_K", ggmlType: 11, blockValues: 256, blockBytes: 110, halves: [108], activation: .q8_K, dot: loco_vec_dot_q3_K_q8_K, dequantize: loco_dequantize_row_q3_K),
    Format(name: "q4_K", ggmlType: 12, blockValues: 256, blockBytes: 144, halves: [0, 2], activation: .q8_K, dot: loco_vec_dot_q4_K_q8_K, dequantize: loco_dequantize_row_q4_K),
    Format(name: "q5_K", ggmlType: 13, blockValues: 256, blockBytes: 176, halves: [0, 2], activation: .q8_K, dot: loco_vec_dot_q5_K_q8_K, dequantize: loco_dequantize_row_q5_K),
    Format(name: "q6_K", ggmlType: 14, blockValues: 256, blockBytes: 210, halves: [208], activation: .q8_K, dot: loco_vec_dot_q6_K_q8_K, dequantize: loco_dequantize_row_q6_K),
    Format(name: "tq1_0", ggmlType: 34, blockValues: 256, blockBytes: 54, halves: [52], activation: .q8_K, dot: loco_vec_dot_tq1_0_q8_K, dequantize: loco_dequantize_row_tq1_0),
    Format(name: "tq2_0", ggmlType: 35, blockValues: 256, blockBytes: 66, halves: [64], activation: .q8_K, dot: loco_vec_dot_tq2_0_q8_K, dequantize: loco_dequantize_row_tq2_0),
]

// MARK: - Options

@MainActor struct Options {
    var formats: [String] = allFormats.map(\.name)
    var values = 4096
    var l2Bytes = 1 << 20
    var streamBytes = 128 << 20
    var passes = 7
    var variant: String?
    var ggml: String?
    var json = false

    init(_ arguments: [String]) {
        var it = arguments.makeIterator()
        while let arg = it.next() {
            switch arg {
            case "--formats": formats = (it.next() ?? "").split(separator: ",").map(String.init)
            case "--values": values = Int(it.next() ?? "") ?? values
            case "--l2-kb": l2Bytes = (Int(it.next() ?? "") ?? 1024) << 10
            case "--stream-mb": streamBytes = (Int(it.next() ?? "") ?? 128) << 20
            case "--passes": passes = max(1, Int(it.next() ?? "") ?? passes)
            case "--variant": variant = it.next()
            case "--ggml": ggml = it.next()
            case "--json": json = true
            default:
                FileHandle.standardError.write(Data("unknown argument \(arg)\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))

let variantMasks: [String: UInt32] = {
    let avx2 = UInt32(LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C)
    let avx512 = avx2 | UInt32(LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW)
    return ["scalar": 0, "avx2": avx2, "avx512bw": avx512, "avx512vnni": avx512 | UInt32(LOCO_CPU_AVX512VNNI)]
}()
if let variant = options.variant {
    guard let mask = variantMasks[variant] else {
        FileHandle.standardError.write(Data("unknown variant \(variant); one of \(variantMasks.keys.sorted())\n".utf8))
        exit(2)
    }
    loco_set_cpu_feature_mask(mask)
}

// MARK: - ggml

typealias GGMLVecDot = @convention(c) (Int32, UnsafeMutablePointer<Float>?, Int, UnsafeRawPointer?, Int, UnsafeRawPointer?, Int, Int32) -> Void
typealias GGMLToFloat = @convention(c) (UnsafeRawPointer?, UnsafeMutablePointer<Float>?, Int64) -> Void

/// ggml's CPU kernels for a type: `ggml_get_type_traits_cpu(type)->vec_dot` (offset 8 in
/// `struct ggml_type_traits_cpu`) and `ggml_get_type_traits(type)->to_float` (offset 40 in
/// `struct ggml_type_traits`).
struct GGML {
    typealias Traits = @convention(c) (Int32) -> UnsafeRawPointer?
    let cpuTraits: Traits
    let baseTraits: Traits

    init?(directory: String) {
        // libggml-cpu uses OpenMP; idle workers spinning on the second core skewed whatever ran next.
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0)
        guard dlopen(directory + "/libggml-base.so", RTLD_NOW | RTLD_GLOBAL) != nil,
              let cpu = dlopen(directory + "/libggml-cpu.so", RTLD_NOW | RTLD_GLOBAL),
              let initialize = dlsym(cpu, "ggml_cpu_init"),
              let cpuTraits = dlsym(cpu, "ggml_get_type_traits_cpu"),
              let baseTraits = dlsym(cpu, "ggml_get_type_traits") else { return nil }
        unsafeBitCast(initialize, to: (@convention(c) () -> Void).self)()
        self.cpuTraits = unsafeBitCast(cpuTraits, to: Traits.self)
        self.baseTraits = unsafeBitCast(baseTraits, to: Traits.self)
    }

    func vecDot(_ type: Int32) -> GGMLVecDot {
        unsafeBitCast(cpuTraits(type)!.load(fromByteOffset: 8, as: UnsafeRawPointer.self), to: GGMLVecDot.self)
    }

    func toFloat(_ type: Int32) -> GGMLToFloat {
        unsafeBitCast(baseTraits(type)!.load(fromByteOffset: 40, as: UnsafeRawPointer.self), to: GGMLToFloat.self)
    }
}

let ggml: GGML? = options.ggml.map { directory in
    guard let ggml = GGML(directory: directory) else {
        FileHandle.standardError.write(Data("cannot load libggml-base.so / libggml-cpu.so from \(directory)\n".utf8))
        exit(2)
    }
    return ggml
}

// MARK: - Timing

func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Best and median of `passes` timings of `body`, as GB/s for `bytes` per pass.
func throughput(bytes: Int, passes: Int, _ body: () -> Void) -> (best: Double, median: Double) {
    body()
    let rates = (0..<passes).map { _ in Double(bytes) / seconds(body) / 1e9 }.sorted()
    return (rates.last!, rates[rates.count / 2])
}

// MARK: - Data

struct Xorshift {
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
var random = Xorshift()

let streamBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: options.streamBytes, alignment: 64)
let words = streamBuffer.bindMemory(to: UInt64.self)
for i in words.indices { words[i] = random.next() }

let n = options.values
var input = (0..<n).map { _ in Float(Int64(bitPattern: random.next()) >> 40) / Float(1 << 23) }
let activationBuffers: [Activation: [UInt8]] = Dictionary(uniqueKeysWithValues: [Activation.q8_0, .q8_1, .q8_K].map { activation in
    var bytes = [UInt8](repeating: 0, count: n / activation.blockValues * activation.blockBytes)
    input.withUnsafeBufferPointer { src in bytes.withUnsafeMutableBytes { activation.quantize(src.baseAddress, $0.baseAddress, n) } }
    return (activation, bytes)
})
let rowOut = UnsafeMutablePointer<Float>.allocate(capacity: n)

/// Writes a finite half scale (0.01) over every block's half fields in the streaming buffer.
func prepare(_ format: Format, _ streamBuffer: UnsafeMutableRawBufferPointer) {
    let scale = Float16(0.01).bitPattern
    let blocks = streamBuffer.count / format.blockBytes
    for b in 0..<blocks {
        for offset in format.halves {
            streamBuffer.storeBytes(of: scale, toByteOffset: b * format.blockBytes + offset, as: UInt16.self)
        }
    }
}

// MARK: - Run

struct Result: Encodable {
    var format: String
    var blockBytes: Int
    var rowBytes: Int
    var dotL2: Double
    var dotStream: Double
    var dequantizeL2: Double
    var dequantizeStream: Double
    /// A plain read of the streamed bytes, measured just before the streaming dot products.
    var readStream: Double
    /// The same measurements with ggml's kernels (--ggml).
    var ggmlDotL2: Double?
    var ggmlDotStream: Double?
    var ggmlDequantizeL2: Double?
    var ggmlDequantizeStream: Double?
}

/// A plain read of the first `bytes` of the streaming buffer: the memory bandwidth a kernel streaming
/// the same bytes could reach at best.
@MainActor func plainRead(bytes: Int) -> Double {
    throughput(bytes: bytes, passes: options.passes) {
        var sum = SIMD8<UInt64>()
        let vectors = UnsafeRawPointer(streamBuffer.baseAddress!).assumingMemoryBound(to: SIMD8<UInt64>.self)
        for i in 0..<(bytes / 64) { sum &+= vectors[i] }
        if sum == SIMD8(repeating: 42) { print("") }
    }.best
}

var sink: Float = 0
var results: [Result] = []
for name in options.formats {
    guard let format = allFormats.first(where: { $0.name == name }) else {
        FileHandle.standardError.write(Data("unknown format \(name)\n".utf8))
        exit(2)
    }
    guard n % format.blockValues == 0 else { continue }
    prepare(format, streamBuffer)
    let rowBytes = n / format.blockValues * format.blockBytes
    let l2Rows = max(1, options.l2Bytes / rowBytes)
    let streamRows = options.streamBytes / rowBytes
    let base = UnsafeRawPointer(streamBuffer.baseAddress!)
    let a = activationBuffers[format.activation]!
    // Each L2 pass repeats the row set so a timing covers at least ~8 MB of work.
    let repeats = max(1, (8 << 20) / (l2Rows * rowBytes))
    func measure(dot: (UnsafeRawPointer, UnsafeRawPointer) -> Float,
                 dequantize: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void) -> [Double] {
        func matvec(rows: Int) {
            a.withUnsafeBytes { ap in
                var s: Float = 0
                for r in 0..<rows { s += dot(base + r * rowBytes, ap.baseAddress!) }
                sink += s
            }
        }
        func dequantizeRows(rows: Int) {
            for r in 0..<rows { dequantize(base + r * rowBytes, rowOut) }
            sink += rowOut[0]
        }
        return [
            throughput(bytes: repeats * l2Rows * rowBytes, passes: options.passes * 3) { for _ in 0..<repeats { matvec(rows: l2Rows) } }.best,
            plainRead(bytes: streamRows * rowBytes),
            throughput(bytes: streamRows * rowBytes, passes: options.passes) { matvec(rows: streamRows) }.best,
            throughput(bytes: repeats * l2Rows * rowBytes, passes: options.passes * 3) { for _ in 0..<repeats { dequantizeRows(rows: l2Rows) } }.best,
            throughput(bytes: streamRows * rowBytes, passes: options.passes) { dequantizeRows(rows: streamRows) }.best,
        ]
    }
    let ours = measure(dot: { format.dot(n, $0, $1) }, dequantize: { format.dequantize($0, $1, n) })
    var result = Result(format: name, blockBytes: format.blockBytes, rowBytes: rowBytes, dotL2: ours[0],
                        dotStream: ours[2], dequantizeL2: ours[3], dequantizeStream: ours[4], readStream: ours[1])
    if let ggml {
        let vecDot = ggml.vecDot(format.ggmlType), toFloat = ggml.toFloat(format.ggmlType)
        let peer = measure(dot: { w, a in
            var s: Float = 0
            vecDot(Int32(n), &s, 0, w, 0, a, 0, 1)
            return s
        }, dequantize: { toFloat($0, $1, Int64(n)) })
        result.ggmlDotL2 = peer[0]
        result.ggmlDotStream = peer[2]
        result.ggmlDequantizeL2 = peer[3]
        result.ggmlDequantizeStream = peer[4]
    }
    results.append(result)
}

let features = loco_cpu_features()
let flagNames: [(UInt32, String)] = [(UInt32(LOCO_CPU_AVX2), "avx2"), (UInt32(LOCO_CPU_FMA), "fma"), (UInt32(LOCO_CPU_F16C), "f16c"),
                                     (UInt32(LOCO_CPU_AVX512F), "avx512f"), (UInt32(LOCO_CPU_AVX512BW), "avx512bw"),
                                     (UInt32(LOCO_CPU_AVX512VNNI), "avx512vnni"), (UInt32(LOCO_CPU_NEON), "neon")]
let featureList = flagNames.filter { features & $0.0 != 0 }.map(\.1).joined(separator: ",")

if options.json {
    struct Report: Encodable {
        var values: Int
        var l2Bytes: Int
        var streamBytes: Int
        var features: String
        var results: [Result]
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let report = Report(values: n, l2Bytes: options.l2Bytes, streamBytes: options.streamBytes, features: featureList,
                        results: results)
    print(String(decoding: try encoder.encode(report), as: UTF8.self))
} else {
    print("kernel-benchmark: one core, rows of \(n) values, L2 set \(options.l2Bytes >> 10) KB, stream \(options.streamBytes >> 20) MB, features [\(featureList)]")
    print("GB/s of weight bytes, best of \(options.passes) passes (L2: of \(3 * options.passes)); 'read' = plain read of the streamed bytes"
          + " just before, 'stream %' = our dot stream / read" + (ggml == nil ? "" : "; (ggml) = ggml's kernels"))
    func cell(_ ours: Double, _ peer: Double?) -> String {
        peer.map { String(format: "%5.1f (%5.1f)", ours, $0) } ?? String(format: "%5.1f", ours)
    }
    let width = ggml == nil ? 10 : 16
    func pad(_ text: String) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
    print("format  block B" + ["dot L2", "dot stream", "dequant L2", "dequant stream"].map { "  " + pad($0) }.joined() + "   read  stream %")
    for r in results {
        let cells = [cell(r.dotL2, r.ggmlDotL2), cell(r.dotStream, r.ggmlDotStream),
                     cell(r.dequantizeL2, r.ggmlDequantizeL2), cell(r.dequantizeStream, r.ggmlDequantizeStream)]
        print((r.format as NSString).padding(toLength: 6, withPad: " ", startingAt: 0) + String(format: "  %7d", r.blockBytes)
              + cells.map { "  " + pad($0) }.joined() + String(format: "  %5.1f  %7.0f%%", r.readStream, 100 * r.dotStream / r.readStream))
    }
}
if sink.isNaN { print("") }
