#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call, turned into the caller's typed error (`SafeTensorsError.io`, `LoRAError.io`).
struct FileSystemFailure: Error, Sendable {
    var operation: String
    var path: String
    var code: Int32
    var message: String

    /// A failure of `operation` on `path` with `code` (default: the current `errno`).
    init(_ operation: String, _ path: String, code: Int32? = nil) {
        let code = code ?? errno
        self.operation = operation
        self.path = path
        self.code = code
        self.message = String(cString: strerror(code))
    }
}

/// A file written under a temporary name in its destination's folder (`.NAME.tmp-PID-RANDOM`),
/// synced, then renamed over the destination by `commit()`. Until then the destination is
/// untouched; `abandon()` or deinit removes the temporary file.
final class AtomicFile {
    let destination: String
    let temporaryPath: String
    private var descriptor: Int32

    init(destination: String) throws(FileSystemFailure) {
        self.destination = destination
        let slash = destination.lastIndex(of: "/")
        let folder = slash.map { String(destination[...$0]) } ?? ""
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        temporaryPath = folder + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileSystemFailure("create", temporaryPath) }
    }

    deinit { abandon() }

    func write(_ bytes: [UInt8]) throws(FileSystemFailure) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemFailure("write", destination)
            }
            done += n
        }
    }

    /// Syncs, closes and renames the temporary file over the destination.
    func commit() throws(FileSystemFailure) {
        guard fsync(descriptor) == 0 else { throw FileSystemFailure("fsync", destination) }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else {
            let failure = FileSystemFailure("close", destination)
            unlink(temporaryPath)
            throw failure
        }
        guard rename(temporaryPath, destination) == 0 else {
            let failure = FileSystemFailure("rename to", destination)
            unlink(temporaryPath)
            throw failure
        }
    }

    /// Closes and removes the temporary file, if it is still open.
    func abandon() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporaryPath)
    }

    /// Writes `bytes` to `path` atomically.
    static func write(_ bytes: [UInt8], to path: String) throws(FileSystemFailure) {
        let file = try AtomicFile(destination: path)
        try file.write(bytes)
        try file.commit()
    }
}

/// File-system questions the loaders ask.
enum FileSystem {
    /// Whether `path` names a directory (following symbolic links).
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Creates `path` as a directory unless it already is one (its parent must exist).
    static func makeDirectory(_ path: String) throws(FileSystemFailure) {
        if isDirectory(path) { return }
        guard mkdir(path, 0o755) == 0 || (errno == EEXIST && isDirectory(path)) else {
            throw FileSystemFailure("create folder", path)
        }
    }

    /// The whole file at `path`, refusing files over `limit` bytes.
    static func read(_ path: String, limit: Int) throws(FileSystemFailure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemFailure("open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileSystemFailure("stat", path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FileSystemFailure("read", path, code: EISDIR) }
        guard Int(info.st_size) <= limit else { throw FileSystemFailure("read", path, code: EFBIG) }
        var out = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < out.count {
            let n = out.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemFailure("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return Array(out[0..<done])
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
private func systemRead(_ fd: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, bytes, count) }
