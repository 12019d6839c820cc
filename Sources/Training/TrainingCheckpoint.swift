import Foundation
import Inference
import Adapters
import LocoSupport

/// A training run's state after a step, in one safetensors file (written atomically): the
/// adapter's parameters and AdamW's two moments as F32 tensors, and in the metadata the step,
/// the configuration, the data's SHA-256 and the log so far. Enough to continue the run exactly.
struct TrainingCheckpoint {
    var step: Int
    var parameters: [Float]
    var optimizer: OptimizerState
    var log: [TrainingProgress]
    var configuration: TrainingConfiguration
    var datasetSHA256: String?

    static let format = "locollm-training-checkpoint-1"

    init(step: Int, parameters: [Float], optimizer: OptimizerState, log: [TrainingProgress], configuration: TrainingConfiguration,
         datasetSHA256: String?) {
        self.step = step
        self.parameters = parameters
        self.optimizer = optimizer
        self.log = log
        self.configuration = configuration
        self.datasetSHA256 = datasetSHA256
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var metadata = [
            "format": Self.format, "step": "\(step)", "adam_t": "\(optimizer.t)",
            "configuration": String(decoding: try encoder.encode(configuration), as: UTF8.self),
            "log": TrainingLog.csv(log, full: true),
        ]
        if let datasetSHA256 { metadata["dataset_sha256"] = datasetSHA256 }
        var writer = SafeTensorsWriter(metadata: metadata)
        try writer.addTensor(name: "parameters", shape: [parameters.count], values: parameters)
        try writer.addTensor(name: "adam_m", shape: [parameters.count], values: optimizer.m)
        try writer.addTensor(name: "adam_v", shape: [parameters.count], values: optimizer.v)
        try writer.write(to: path)
    }

    init(contentsOf path: String) throws {
        let file = try SafeTensorsFile(contentsOf: path)
        func field(_ key: String) throws -> String {
            guard let value = file.metadata[key] else {
                throw TrainingError.invalidOption("\(path) is not a training checkpoint of this version: it has no \"\(key)\"")
            }
            return value
        }
        guard try field("format") == Self.format else {
            throw TrainingError.invalidOption("\(path) is a checkpoint of another format (\(file.metadata["format"] ?? "?"))")
        }
        guard let step = Int(try field("step")), let t = Int(try field("adam_t")) else {
            throw TrainingError.invalidOption("\(path): the step is not a number")
        }
        do {
            configuration = try JSONDecoder().decode(TrainingConfiguration.self, from: Data(try field("configuration").utf8))
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.invalidOption("\(path): the configuration does not decode: \(error)")
        }
        self.step = step
        parameters = try file.floats(named: "parameters")
        optimizer = OptimizerState(m: try file.floats(named: "adam_m"), v: try file.floats(named: "adam_v"), t: t)
        guard optimizer.m.count == parameters.count, optimizer.v.count == parameters.count else {
            throw TrainingError.invalidOption("\(path): the optimizer state does not match the parameters")
        }
        log = try TrainingLog.parse(try field("log"), path: path)
        datasetSHA256 = file.metadata["dataset_sha256"]
    }

    /// Throws unless this checkpoint continues a run of `configuration` over the same data.
    func check(configuration expected: TrainingConfiguration, datasetSHA256 expectedData: String?, parameterCount: Int) throws {
        guard configuration == expected else {
            throw TrainingError.invalidOption("the checkpoint was made with other settings; resume with the same options, or use a new output folder")
        }
        guard datasetSHA256 == expectedData else {
            throw TrainingError.invalidOption("the checkpoint was made from other training data (SHA-256 \(datasetSHA256 ?? "none"))")
        }
        guard parameters.count == parameterCount else {
            throw TrainingError.invalidOption("the checkpoint holds \(parameters.count) parameters; this model and configuration need \(parameterCount)")
        }
    }
}

/// The training log as CSV and as a loss-curve SVG.
enum TrainingLog {
    static let columns = ["step", "loss", "val_loss", "learning_rate", "tokens_per_second"]
    static let extraColumns = ["total_steps", "epoch", "gradient_norm", "elapsed_seconds", "seconds_left"]

    /// `step,loss,val_loss,learning_rate,tokens_per_second` per step (val_loss empty where not
    /// computed); `full` adds the columns a checkpoint needs to restore the log exactly.
    static func csv(_ log: [TrainingProgress], full: Bool = false) -> String {
        var out = (columns + (full ? extraColumns : [])).joined(separator: ",") + "\n"
        for p in log {
            var fields = ["\(p.step)", "\(p.loss)", p.validationLoss.map { "\($0)" } ?? "", "\(p.learningRate)", "\(p.tokensPerSecond)"]
            if full { fields += ["\(p.totalSteps)", "\(p.epoch)", "\(p.gradientNorm)", "\(p.elapsedSeconds)", "\(p.secondsLeft)"] }
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }

    /// Reads ``csv(_:full:)``'s full form.
    static func parse(_ text: String, path: String) throws -> [TrainingProgress] {
        var lines = text.split(separator: "\n")
        guard let header = lines.first, header.split(separator: ",").map(String.init) == columns + extraColumns else {
            throw TrainingError.invalidOption("\(path): the log in the checkpoint has unexpected columns")
        }
        lines.removeFirst()
        return try lines.map { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 10, let step = Int(f[0]), let loss = Double(f[1]), let rate = Double(f[3]), let speed = Double(f[4]),
                  let total = Int(f[5]), let epoch = Double(f[6]), let norm = Double(f[7]), let elapsed = Double(f[8]),
                  let left = Double(f[9]) else {
                throw TrainingError.invalidOption("\(path): a line of the log in the checkpoint does not parse: \(line)")
            }
            return TrainingProgress(step: step, totalSteps: total, epoch: epoch, loss: loss, validationLoss: Double(f[2]),
                                    learningRate: rate, gradientNorm: norm, tokensPerSecond: speed, elapsedSeconds: elapsed,
                                    secondsLeft: left)
        }
    }

    /// The training loss per step (and the validation loss where computed) as a small
    /// self-contained SVG chart.
    static func svg(_ log: [TrainingProgress]) -> String {
        let width = 640.0, height = 360.0, left = 56.0, right = 16.0, top = 24.0, bottom = 40.0
        let losses = log.map(\.loss) + log.compactMap(\.validationLoss)
        let lowest = (losses.min() ?? 0), highest = max((losses.max() ?? 1), lowest + 1e-9)
        let lastStep = Double(max(1, log.last?.step ?? 1)), firstStep = Double(log.first?.step ?? 0)
        func x(_ step: Int) -> Double { left + (Double(step) - firstStep) / max(1, lastStep - firstStep) * (width - left - right) }
        func y(_ loss: Double) -> Double { top + (highest - loss) / (highest - lowest) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func path(_ points: [(Int, Double)]) -> String {
            points.enumerated().map { i, p in (i == 0 ? "M" : "L") + f(x(p.0)) + " " + f(y(p.1)) }.joined(separator: " ")
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(height - bottom))\" x2=\"\(f(width - right))\" y2=\"\(f(height - bottom))\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(height - bottom))\" stroke=\"black\"/>\n"
        for i in 0...4 {
            let value = lowest + (highest - lowest) * Double(i) / 4
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(value) + 4))\" text-anchor=\"end\">\(String(format: "%.3g", value))</text>\n"
        }
        svg += "<text x=\"\(f(left))\" y=\"\(f(height - bottom + 16))\">\(Int(firstStep))</text>\n"
        svg += "<text x=\"\(f(width - right))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"end\">\(Int(lastStep))</text>\n"
        svg += "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">step</text>\n"
        if !log.isEmpty {
            svg += "<path d=\"\(path(log.map { ($0.step, $0.loss) }))\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>\n"
        }
        let validation = log.compactMap { p in p.validationLoss.map { (p.step, $0) } }
        if !validation.isEmpty {
            svg += "<path d=\"\(path(validation))\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n"
            for (step, loss) in validation { svg += "<circle cx=\"\(f(x(step)))\" cy=\"\(f(y(loss)))\" r=\"3\" fill=\"#d62728\"/>\n" }
        }
        svg += "<text x=\"\(f(width - right))\" y=\"\(f(top - 6))\" text-anchor=\"end\"><tspan fill=\"#1f77b4\">training loss</tspan>"
        svg += (validation.isEmpty ? "" : "  <tspan fill=\"#d62728\">validation loss</tspan>") + "</text>\n"
        return svg + "</svg>\n"
    }
}
