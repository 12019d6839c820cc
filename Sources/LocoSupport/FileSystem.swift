#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call, turned into the caller's typed error (`SafeTensorsError.io`, `LoRAError.io`, `GGUFError.io`).
public struct FileSystemFailure: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32
    public var message: String

    /// A failure of `operation` on `path` with `code` (default: the current `errno`).
    public init(_ operation: String, _ path: String, code: Int32? = nil) {
        let code = code ?? errno
        self.operation = operation
        self.path = path
        self.code = code
        self.message = String(cString: strerror(code))
    }

    public var description: String { "\(operation) '\(path)' failed: \(message) (errno \(code))" }
}

/// File-system helpers every target uses: questions, folders, whole-file reads and copies.
public enum FileSystem {
    /// Whether `path` names a directory (following symbolic links).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Creates `path` as a directory unless it already is one (its parent must exist).
    public static func makeDirectory(_ path: String) throws(FileSystemFailure) {
        if isDirectory(path) { return }
        guard mkdir(path, 0o755) == 0 || (errno == EEXIST && isDirectory(path)) else {
            throw FileSystemFailure("create folder", path)
        }
    }

    /// The whole file at `path`, refusing files over `limit` bytes.
    public static func read(_ path: String, limit: Int) throws(FileSystemFailure) -> [UInt8] {
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


    /// The names in `path`, without `.` and `..`.
    public static func entries(_ path: String) throws(FileSystemFailure) -> [String] {
        guard let dir = opendir(path) else { throw FileSystemFailure("open folder", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Creates `path` and any missing parents.
    public static func makeAll(_ path: String) throws(FileSystemFailure) {
        if FileSystem.isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if !FileSystem.isDirectory(prefix) { try FileSystem.makeDirectory(prefix) }
        }
    }

    /// Removes `path` and everything under it, ignoring errors (symbolic links are removed, not followed).
    public static func removeAll(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in (try? entries(path)) ?? [] { removeAll(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Copies the regular file `source` to the new file `destination`, then syncs it.
    public static func copyFile(_ source: String, to destination: String) throws(FileSystemFailure) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw FileSystemFailure("open", source) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw FileSystemFailure("create", destination) }
        var closed = false
        defer { if !closed { close(output) } }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { systemRead(input, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemFailure("read", source)
            }
            if n == 0 { break }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { systemWrite(output, $0.baseAddress! + done, n - done) }
                if w < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemFailure("write", destination)
                }
                done += w
            }
        }
        guard fsync(output) == 0 else { throw FileSystemFailure("fsync", destination) }
        closed = true
        guard close(output) == 0 else { throw FileSystemFailure("close", destination) }
    }

    /// The resolved absolute path of `path`, or of its folder plus its name when it does not
    /// exist (to tell whether an output would overwrite an input).
    public static func canonicalPath(_ path: String) -> String? {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let resolved = realpath(folder.isEmpty ? "/" : folder, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + name
    }

    /// Syncs a folder, so renames in it are durable.
    public static func syncDirectory(_ path: String) throws(FileSystemFailure) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemFailure("open folder", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileSystemFailure("fsync", path) }
    }
}

private func systemRead(_ fd: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, bytes, count) }
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
