import LocoSupport
import Synchronization

/// An embedder that remembers: the vectors of texts it has embedded, in memory and in a file per
/// embedding space, so fitting a router again embeds only examples it has not seen, and a routed
/// question costs one embedding of the question.
///
/// The file (`<folder>/<first 32 hex digits of SHA-256(fingerprint)>.bin`) holds the fingerprint,
/// the width and one record per text: the SHA-256 of its UTF-8 bytes (64 hex digits) and the
/// vector as little-endian `Float`s. A file that is damaged, of another fingerprint or another
/// width is ignored and replaced on the next ``save()``: a cache never changes a result, it only
/// saves time.
public final class CachingEmbedder: Embedder {
    public let base: any Embedder
    /// The cache file; nil keeps vectors in memory only.
    public let path: String?
    let folder: String?
    public let fingerprint: String
    private let state: Mutex<State>

    struct State {
        var vectors: [String: [Float]] = [:]
        var width = 0
        var unsaved = 0
    }

    /// `$LOCO_EMBEDDING_CACHE`, else `embeddings` in the SDK's cache folder.
    public static var defaultFolder: String { CacheFolder.path("embeddings", overrideVariable: "LOCO_EMBEDDING_CACHE") }

    static let magic = Array("LOCOEMB1".utf8)
    static let keyLength = 64

    /// Wraps `base`, reading what `folder` holds for its embedding space (nil: no file).
    public init(_ base: any Embedder, folder: String? = CachingEmbedder.defaultFolder) {
        self.base = base
        fingerprint = base.fingerprint
        self.folder = folder
        path = folder.map { $0 + "/" + ContentHash.sha256(Array(base.fingerprint.utf8)).prefix(32) + ".bin" }
        state = Mutex(path.flatMap { Self.load($0, fingerprint: base.fingerprint) } ?? State())
    }

    /// How many vectors are known.
    public var count: Int { state.withLock { $0.vectors.count } }

    /// How many vectors were computed since the cache was read or saved.
    public var unsaved: Int { state.withLock { $0.unsaved } }

    public func embed(_ text: String) throws -> [Float] {
        let key = ContentHash.sha256(Array(text.utf8))
        if let known = state.withLock({ $0.vectors[key] }) { return known }
        let vector = try base.embed(text)
        state.withLock { state in
            guard state.width == 0 || state.width == vector.count else { return }
            state.width = vector.count
            state.vectors[key] = vector
            state.unsaved += 1
        }
        return vector
    }

    /// Writes the file (atomically) when new vectors were computed; returns whether it wrote.
    @discardableResult
    public func save() throws(FileSystemFailure) -> Bool {
        guard let path else { return false }
        let (bytes, wrote): ([UInt8], Bool) = state.withLock { state in
            guard state.unsaved > 0 else { return ([], false) }
            state.unsaved = 0
            return (Self.encode(state, fingerprint: fingerprint), true)
        }
        guard wrote else { return false }
        if let folder { try FileSystem.makeAll(folder) }
        try AtomicFile.write(bytes, to: path)
        return true
    }

    static func encode(_ state: State, fingerprint: String) -> [UInt8] {
        var out = magic
        func put(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        let name = Array(fingerprint.utf8)
        put(UInt32(name.count))
        out += name
        put(UInt32(state.width))
        put(UInt32(state.vectors.count))
        out.reserveCapacity(out.count + state.vectors.count * (keyLength + 4 * state.width))
        for key in state.vectors.keys.sorted() {
            out += Array(key.utf8)
            for value in state.vectors[key]! { put(value.bitPattern) }
        }
        return out
    }

    static func load(_ path: String, fingerprint: String) -> State? {
        guard FileSystem.exists(path), let bytes = try? FileSystem.read(path, limit: 1 << 30) else { return nil }
        var offset = 0
        func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, bytes.count - offset >= count else { return nil }
            defer { offset += count }
            return bytes[offset..<offset + count]
        }
        func word() -> UInt32? {
            take(4).map { $0.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        }
        guard take(magic.count).map(Array.init) == magic, let nameLength = word(),
              let name = take(Int(nameLength)), String(decoding: name, as: UTF8.self) == fingerprint,
              let width = word().map(Int.init), let count = word().map(Int.init), width > 0,
              bytes.count - offset == count * (keyLength + 4 * width)
        else { return nil }
        var state = State()
        state.width = width
        state.vectors.reserveCapacity(count)
        for _ in 0..<count {
            let key = String(decoding: take(keyLength)!, as: UTF8.self)
            var vector = [Float](repeating: 0, count: width)
            for j in 0..<width { vector[j] = Float(bitPattern: word()!) }
            state.vectors[key] = vector
        }
        return state
    }
}
