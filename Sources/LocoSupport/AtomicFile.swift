import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written under a temporary name in its destination's folder (`.NAME.tmp-PID-RANDOM`),
/// buffered, synced, then renamed over the destination by ``commit()``. Until then the
/// destination is untouched; ``abandon()`` or deinit removes the temporary file.
///
/// Every file the SDK writes goes through this type (decision 8 of the architecture), so it also
/// cleans up after interruptions:
/// - SIGINT or SIGTERM removes every live temporary, then ends the process as the signal would
///   have (a handler is installed when the first temporary is made, and only for a signal still
///   at its default action: a program with its own handler is left alone and can call
///   ``removeLiveTemporaries()`` from its cleanup);
/// - temporaries left by processes that no longer exist (SIGKILL, a power cut) are swept from a
///   folder the next time a file is written there.
public final class AtomicFile: @unchecked Sendable {
    public let destination: String
    public let temporaryPath: String
    private var descriptor: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// Bytes given to ``write(_:)-(UnsafeRawBufferPointer)`` so far.
    public private(set) var bytesWritten = 0
    private static let bufferSize = 1 << 20

    public init(destination: String) throws(FileSystemFailure) {
        self.destination = destination
        let slash = destination.lastIndex(of: "/")
        let folder = slash.map { String(destination[...$0]) } ?? ""
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        AtomicFile.sweepStaleTemporaries(in: folder.isEmpty ? "." : folder)
        temporaryPath = folder + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // Registered before the file exists, so a signal between the two cannot miss it.
        Temporaries.shared.add(temporaryPath)
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            let failure = FileSystemFailure("create", temporaryPath)
            Temporaries.shared.remove(temporaryPath)
            throw failure
        }
        buffer = .allocate(byteCount: AtomicFile.bufferSize, alignment: 64)
    }

    deinit {
        abandon()
        buffer.deallocate()
    }

    public func write(_ bytes: [UInt8]) throws(FileSystemFailure) {
        do {
            try bytes.withUnsafeBytes { try write($0) }
        } catch {
            throw error as! FileSystemFailure  // the only error write(_:) throws
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(FileSystemFailure) {
        guard descriptor >= 0 else { throw FileSystemFailure("write", destination, code: EBADF) }
        guard !bytes.isEmpty else { return }
        bytesWritten += bytes.count
        if buffered + bytes.count <= buffer.count {
            (buffer.baseAddress! + buffered).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            buffered += bytes.count
            return
        }
        try flush()
        if bytes.count >= buffer.count {
            try writeFully(bytes)
        } else {
            buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            buffered = bytes.count
        }
    }

    /// Appends `count` zero bytes (alignment padding).
    public func writeZeros(_ count: Int) throws(FileSystemFailure) {
        guard count > 0 else { return }
        try write([UInt8](repeating: 0, count: count))
    }

    private func flush() throws(FileSystemFailure) {
        guard buffered > 0 else { return }
        try writeFully(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
        buffered = 0
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws(FileSystemFailure) {
        var done = 0
        while done < bytes.count {
            let n = systemWrite(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemFailure("write", destination)
            }
            done += n
        }
    }

    /// Flushes, syncs, closes and renames the temporary file over the destination.
    public func commit() throws(FileSystemFailure) {
        guard descriptor >= 0 else { throw FileSystemFailure("commit", destination, code: EBADF) }
        try flush()
        if AtomicFile.commitDelay > 0 { usleep(AtomicFile.commitDelay) }
        guard fsync(descriptor) == 0 else { throw FileSystemFailure("fsync", destination) }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else {
            let failure = FileSystemFailure("close", destination)
            removeTemporary()
            throw failure
        }
        guard rename(temporaryPath, destination) == 0 else {
            let failure = FileSystemFailure("rename to", destination)
            removeTemporary()
            throw failure
        }
        Temporaries.shared.remove(temporaryPath)
    }

    /// Closes and removes the temporary file, if it is still open.
    public func abandon() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        removeTemporary()
    }

    private func removeTemporary() {
        unlink(temporaryPath)
        Temporaries.shared.remove(temporaryPath)
    }

    /// For the signal tests only: `LOCO_TEST_COMMIT_DELAY_MS` holds every commit back that long,
    /// with the temporary complete on disk, so a test can interrupt any writer at that point.
    static let commitDelay: UInt32 = {
        guard let text = CacheFolder.environment("LOCO_TEST_COMMIT_DELAY_MS"), let ms = UInt32(text), ms <= 60_000 else { return 0 }
        return ms * 1000
    }()

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws(FileSystemFailure) {
        let file = try AtomicFile(destination: path)
        try file.write(bytes)
        try file.commit()
    }

    /// A path for a scratch file beside `destination` (`.NAME.PURPOSE.tmp-PID-RANDOM`), for an
    /// intermediate stage of a write (the F32 model a merge quantizes from). It is covered as the
    /// temporaries are: removed on SIGINT/SIGTERM, swept when its process is gone. Call
    /// ``removeScratch(_:)`` when the stage is done.
    public static func scratchPath(beside destination: String, purpose: String) -> String {
        let slash = destination.lastIndex(of: "/")
        let folder = slash.map { String(destination[...$0]) } ?? ""
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        let path = folder + ".\(base).\(purpose).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        Temporaries.shared.add(path)
        return path
    }

    /// Deletes a scratch file made with ``scratchPath(beside:purpose:)`` (if it exists) and stops covering it.
    public static func removeScratch(_ path: String) {
        unlink(path)
        Temporaries.shared.remove(path)
    }

    /// Removes every temporary file this process has open (for a program with its own signal
    /// handler, which this type then leaves alone).
    public static func removeLiveTemporaries() { Temporaries.shared.removeAll() }

    /// The temporaries of this process that exist now (for tests and diagnostics).
    public static var liveTemporaries: [String] { Temporaries.shared.paths }

    /// Whether `name` (a file name, no folder) is one of our temporaries, and the process that made it.
    static func temporaryOwner(_ name: String) -> pid_t? {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return nil }
        let parts = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0, UInt32(parts[1]) != nil else { return nil }
        return pid
    }

    /// Removes temporaries in `folder` whose process no longer exists.
    public static func sweepStaleTemporaries(in folder: String) {
        guard let names = try? FileSystem.entries(folder) else { return }
        let me = getpid()
        for name in names {
            guard let owner = temporaryOwner(name), owner != me else { continue }
            if kill(owner, 0) == -1 && errno == ESRCH {
                unlink(folder.hasSuffix("/") ? folder + name : folder + "/" + name)
            }
        }
    }
}

/// The live temporary files of this process, and the signal handler that removes them.
///
/// The handler runs in signal context, so it only reads what was prepared for it: 64 slots of
/// `PATH_MAX` bytes allocated once, and one atomic bit mask saying which slots hold a live path.
/// It unlinks those paths (async-signal-safe), restores the default action and raises the signal
/// again. A path is written into its slot before its bit is set, and a slot is reused only after
/// its bit is cleared. More than 64 temporaries at once are not covered by the handler (the sweep
/// of stale temporaries still removes them later).
final class Temporaries: Sendable {
    static let shared = Temporaries()
    static let slotCount = 64
    static let slotBytes = Int(PATH_MAX)

    /// Which slots hold a live temporary's path.
    let mask = Atomic<UInt64>(0)
    /// `slotCount` buffers of `slotBytes` bytes, never freed.
    nonisolated(unsafe) let slots: UnsafeMutablePointer<CChar>
    /// The paths by slot (nil: free), and the ones that found no slot.
    private let table = Mutex<(bySlot: [String?], overflow: Set<String>, installed: Bool)>(
        ([String?](repeating: nil, count: Temporaries.slotCount), [], false))

    private init() {
        slots = .allocate(capacity: Temporaries.slotCount * Temporaries.slotBytes)
        slots.initialize(repeating: 0, count: Temporaries.slotCount * Temporaries.slotBytes)
    }

    var paths: [String] {
        table.withLock { ($0.bySlot.compactMap { $0 } + $0.overflow).sorted() }
    }

    func add(_ path: String) {
        table.withLock { state in
            if !state.installed {
                state.installed = true
                Temporaries.installHandlers()
            }
            let bytes = Array(path.utf8CString)
            guard bytes.count <= Temporaries.slotBytes, let free = state.bySlot.firstIndex(where: { $0 == nil }) else {
                state.overflow.insert(path)
                return
            }
            state.bySlot[free] = path
            let slot = slots + free * Temporaries.slotBytes
            bytes.withUnsafeBufferPointer { slot.update(from: $0.baseAddress!, count: $0.count) }
            mask.bitwiseOr(1 << UInt64(free), ordering: .releasing)
        }
    }

    func remove(_ path: String) {
        table.withLock { state in
            if let slot = state.bySlot.firstIndex(of: path) {
                mask.bitwiseAnd(~(1 << UInt64(slot)), ordering: .releasing)
                state.bySlot[slot] = nil
            } else {
                state.overflow.remove(path)
            }
        }
    }

    func removeAll() {
        table.withLock { state in
            for path in state.bySlot.compactMap({ $0 }) + state.overflow { unlink(path) }
            mask.store(0, ordering: .releasing)
            state.bySlot = [String?](repeating: nil, count: Temporaries.slotCount)
            state.overflow = []
        }
    }

    /// Called in signal context: unlinks every live temporary.
    func unlinkLive() {
        let live = mask.load(ordering: .acquiring)
        for slot in 0..<Temporaries.slotCount where live & (1 << UInt64(slot)) != 0 {
            unlink(slots + slot * Temporaries.slotBytes)
        }
    }

    /// Installs the handler for SIGINT and SIGTERM where the action is still the default one.
    private static func installHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            var current = sigaction()
            guard sigaction(signalNumber, nil, &current) == 0, isDefault(current) else { continue }
            var action = sigaction()
            #if canImport(Darwin)
            action.__sigaction_u.__sa_handler = onSignal
            #else
            action.__sigaction_handler.sa_handler = onSignal
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signalNumber, &action, nil)
        }
    }

    private static func isDefault(_ action: sigaction) -> Bool {
        #if canImport(Darwin)
        return action.__sigaction_u.__sa_handler == nil
        #else
        return action.__sigaction_handler.sa_handler == nil
        #endif
    }
}

/// The signal handler: removes the temporaries, then lets the signal do what it would have done.
private func onSignal(_ signalNumber: Int32) {
    Temporaries.shared.unlinkLive()
    signal(signalNumber, SIG_DFL)
    raise(signalNumber)
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
