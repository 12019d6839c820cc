import Foundation
import LocoSupport
import Testing

@Suite struct AtomicFileTests {
    private func folder() throws -> String {
        let path = NSTemporaryDirectory() + "loco-atomic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func commitReplacesTheDestinationAndLeavesNoTemporary() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/out.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        let file = try AtomicFile(destination: path)
        try file.write([UInt8](repeating: 7, count: 3 << 20))  // past the buffer
        try file.writeZeros(5)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([1, 2, 3]))  // untouched until commit
        #expect(AtomicFile.liveTemporaries.contains(file.temporaryPath))
        try file.commit()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == (3 << 20) + 5)
        #expect(try FileSystem.entries(dir) == ["out.bin"])
        #expect(!AtomicFile.liveTemporaries.contains(file.temporaryPath))
    }

    @Test func abandonRemovesTheTemporary() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let file = try AtomicFile(destination: dir + "/x")
            try file.write([1])
            #expect(FileSystem.exists(file.temporaryPath))
        }  // deinit abandons
        #expect(try FileSystem.entries(dir).isEmpty)
    }

    @Test func staleTemporariesOfDeadProcessesAreSwept() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A process id that cannot exist (above the kernel's pid_max), one that does (ours: kept,
        // it may be writing), and names that only look similar (kept).
        let stale = dir + "/.model.gguf.tmp-2147483646-12345"
        let mine = dir + "/.other.tmp-\(getpid())-1"
        let lookalikes = [dir + "/.notes.tmp-abc-1", dir + "/model.gguf.tmp-2147483646-1", dir + "/.x.tmp-2147483646"]
        for path in [stale, mine] + lookalikes { _ = FileManager.default.createFile(atPath: path, contents: Data([0])) }
        try AtomicFile.write([9], to: dir + "/model.gguf")
        let names = Set(try FileSystem.entries(dir))
        #expect(!names.contains(".model.gguf.tmp-2147483646-12345"))
        #expect(names.contains(".other.tmp-\(getpid())-1"))
        for path in lookalikes { #expect(names.contains(String(path.dropFirst(dir.count + 1)))) }
    }

    @Test func aMissingFolderIsATypedError() {
        #expect(throws: FileSystemFailure.self) { try AtomicFile.write([1], to: "/nonexistent-loco-folder/x") }
    }
}
