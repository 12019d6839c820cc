import Foundation
import GGUFFormat
import LocoTestSupport
import Testing

/// The writer's guarantees: atomic output, exact tensor sizes, clear errors.
@Suite struct WriterTests {
    func entries(in dir: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

    func writer() throws -> GGUFWriter {
        var writer = GGUFWriter(metadata: try GGUFMetadata([.init(key: "general.architecture", value: .string("llama"))]))
        try writer.addTensor(name: "a", shape: [32, 2], type: .q8_0)
        try writer.addTensor(name: "b", shape: [4], type: .f32)
        return writer
    }

    struct ProducerFailed: Error {}

    @Test func failedWriteLeavesNothingBehindAndKeepsTheOldFile() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.gguf"
        try Data("previous contents".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ProducerFailed.self) {
            try writer().write(to: path) { tensor, sink in
                try sink.write(contentsOf: [UInt8](repeating: 1, count: 10))
                throw ProducerFailed()
            }
        }
        #expect(try entries(in: dir) == ["model.gguf"])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "previous contents")
    }

    @Test func wrongTensorSizeIsAnErrorAndNoFile() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.gguf"
        #expect(throws: GGUFError(.tensorDataSizeMismatch(tensor: "a", expected: 68, written: 67), path: path)) {
            try writer().write(to: path) { tensor, sink in
                try sink.write(contentsOf: [UInt8](repeating: 0, count: tensor.byteCount - 1))
            }
        }
        #expect(try entries(in: dir).isEmpty)
    }

    @Test func missingFolderIsAnIOError() throws {
        #expect {
            try writer().write(to: "/nonexistent-folder/model.gguf") { _, _ in }
        } throws: { error in
            guard let error = error as? GGUFError, case .io(let op, let path, _, _) = error.kind else { return false }
            return op == "create" && path.hasPrefix("/nonexistent-folder/")
        }
    }

    /// A full disk (a 64 KiB tmpfs, where this machine lets root mount one) is an I/O error
    /// naming the file, and leaves no temporary file behind.
    @Test func fullDiskIsAnIOErrorAndLeavesNothing() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard (try? run("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]))?.status == 0 else { return }
        defer { _ = try? run("umount", [dir]) }
        var big = GGUFWriter()
        try big.addTensor(name: "w", shape: [1 << 18], type: .f32)
        #expect {
            try big.write(to: dir + "/m.gguf") { tensor, sink in
                try sink.write(contentsOf: [Float](repeating: 1, count: 1 << 18))
            }
        } throws: { error in
            guard let error = error as? GGUFError, case .io(_, let path, let code, _) = error.kind else { return false }
            return path == dir + "/m.gguf" && code == ENOSPC
        }
        #expect(try entries(in: dir).isEmpty)
    }

    @Test func progressIsReportedPerTensor() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var seen: [[Int]] = []
        try writer().write(to: dir + "/m.gguf", progress: { seen.append([$0, $1]) }) { tensor, sink in
            try sink.write(contentsOf: [UInt8](repeating: 0, count: tensor.byteCount))
        }
        #expect(seen == [[1, 2], [2, 2]])
    }

    @Test func invalidTensorsAreRefusedWhenAdded() throws {
        var writer = try writer()
        #expect(throws: GGUFError(.duplicateTensor("a"))) { try writer.addTensor(name: "a", shape: [4], type: .f32) }
        #expect(throws: GGUFError(.rowNotWholeBlocks(tensor: "q", rowLength: 100, type: .q4_K))) {
            try writer.addTensor(name: "q", shape: [100], type: .q4_K)
        }
        let long = String(repeating: "x", count: 64)
        #expect(throws: GGUFError(.tensorNameTooLong(name: long, bytes: 64))) { try writer.addTensor(name: long, shape: [1], type: .f32) }
        #expect(throws: GGUFError(.invalidDimensionCount(tensor: "z", count: 5))) {
            try writer.addTensor(name: "z", shape: [1, 1, 1, 1, 1], type: .f32)
        }
    }

    @Test func layoutOverflowIsAnError() throws {
        var writer = GGUFWriter()
        try writer.addTensor(name: "a", shape: [1 << 62], type: .i8)
        try writer.addTensor(name: "b", shape: [1 << 62], type: .i8)
        try writer.addTensor(name: "c", shape: [1 << 62], type: .i8)
        #expect(throws: GGUFError.self) { try writer.layout() }
    }

    @Test func metadataEditsKeepOrder() throws {
        var m = try GGUFMetadata([.init(key: "a", value: .uint8(1)), .init(key: "b", value: .uint8(2)), .init(key: "c", value: .uint8(3))])
        m["b"] = .string("two")
        m["d"] = .bool(true)
        m["a"] = nil
        #expect(m.keys == ["b", "c", "d"])
        #expect(m["b"] == .string("two"))
        #expect(throws: GGUFError(.duplicateKey("x"))) {
            try GGUFMetadata([.init(key: "x", value: .uint8(1)), .init(key: "x", value: .uint8(1))])
        }
    }
}
