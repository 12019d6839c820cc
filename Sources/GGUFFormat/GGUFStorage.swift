import LocoSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The immutable bytes a GGUF file was parsed from: a read-only memory map of the file, or an
/// owned copy of bytes given in memory. Tensor views keep their storage alive.
///
/// A mapped file must not be truncated by another process while it is open; reads of the lost
/// pages would fault, as in every mmap-based runtime.
public final class GGUFStorage: @unchecked Sendable {
    /// Start of the bytes. Immutable after init; pages are mapped read-only.
    let base: UnsafeRawPointer?
    public let count: Int
    private let isMapped: Bool

    /// Maps `path` read-only.
    public init(mapping path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GGUFError.posix("open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw GGUFError.posix("stat", path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(.io(operation: "open", path: path, errno: EINVAL, message: "not a regular file"))
        }
        count = Int(info.st_size)
        isMapped = true
        if count == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { throw GGUFError.posix("mmap", path) }
        base = UnsafeRawPointer(mapped)
    }

    /// Copies `bytes` into storage of its own.
    public init<Bytes: Collection>(copying bytes: Bytes) where Bytes.Element == UInt8 {
        count = bytes.count
        isMapped = false
        if count == 0 {
            base = nil
            return
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 64)
        _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        base = UnsafeRawPointer(buffer.baseAddress!)
    }

    deinit {
        guard let base else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            base.deallocate()
        }
    }

    /// The whole storage as a buffer, valid while `self` is alive.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Calls `body` with the bytes in `range`, which the caller has checked against `count`.
    public func withUnsafeBytes<R>(
        in range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range outside storage")
        return try withExtendedLifetime(self) {
            try body(UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
    }

    /// Drops the pages wholly inside `range` from this process's resident memory (a no-op for
    /// copied storage). The mapping stays valid: the pages are read again from the page cache if
    /// touched. Streaming readers call it after each tensor so memory stays near one tensor.
    public func release(_ range: Range<Int>) {
        guard isMapped, let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard start < end else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// Advises the kernel that `range` will be read soon (a no-op for copied storage).
    public func prefetch(_ range: Range<Int>) {
        guard isMapped, let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_WILLNEED)
    }
}

extension GGUFError {
    /// Runs `body`, turning a file-system failure into ``GGUFError`` `.io`.
    static func wrapping<T>(_ body: () throws(FileSystemFailure) -> T) throws(GGUFError) -> T {
        do {
            return try body()
        } catch {
            throw GGUFError(.io(operation: error.operation, path: error.path, errno: error.code, message: error.message))
        }
    }

    static func posix(_ operation: String, _ path: String) -> GGUFError {
        let code = errno
        return GGUFError(.io(operation: operation, path: path, errno: code, message: String(cString: strerror(code))))
    }
}
