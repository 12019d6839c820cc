import GGUFFormat
import Tensor

/// Reads a model's tensors by name and checks their shapes, with errors naming the file and
/// the tensor; records which tensors were used so a file with tensors nobody reads (a bias or an
/// expert this runtime would silently skip) is refused, as llama.cpp refuses it.
final class WeightLoader {
    let file: GGUFFile
    private(set) var used: Set<String> = []

    init(file: GGUFFile) { self.file = file }

    func has(_ name: String) -> Bool { file.tensor(named: name) != nil }

    /// The matrix `name` with `rows` rows of `columns` values (ggml shape `[columns, rows]`).
    func matrix(_ name: String, columns: Int, rows: Int) throws -> WeightMatrix {
        let data = try tensor(name, shape: [columns, rows])
        do {
            return try WeightMatrix(data)
        } catch let error as TensorError {
            throw ModelError(.unsupportedTensor(tensor: name, reason: error.description), path: file.path)
        }
    }

    /// The vector `name` of `length` floats (any float type).
    func vector(_ name: String, length: Int) throws -> [Float] {
        let data = try tensor(name, shape: [length])
        do {
            return try WeightMatrix(data).row(0)
        } catch let error as TensorError {
            throw ModelError(.unsupportedTensor(tensor: name, reason: error.description), path: file.path)
        }
    }

    /// Throws when a tensor of the file was not read: the model would run without it.
    func checkAllUsed(architecture: String) throws {
        if let unused = file.tensors.first(where: { !used.contains($0.name) }) {
            throw ModelError(.unsupportedTensor(
                tensor: unused.name, reason: "not part of the \(architecture) architecture as this runtime runs it"), path: file.path)
        }
    }

    private func tensor(_ name: String, shape expected: [Int]) throws -> GGUFTensorData {
        guard let info = file.tensor(named: name) else { throw ModelError(.missingTensor(name), path: file.path) }
        var shape = info.shape
        while shape.count > expected.count, shape.last == 1 { shape.removeLast() }
        guard shape == expected else {
            throw ModelError(.tensorShape(tensor: name, shape: info.shape, expected: expected), path: file.path)
        }
        used.insert(name)
        return file.tensorData(info)
    }
}
