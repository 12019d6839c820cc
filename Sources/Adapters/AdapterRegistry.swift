#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import GGUFFormat
import LocoSupport

/// A folder of adapters, one subfolder per adapter:
///
/// ```
/// <folder>/<name>/manifest.json     an AdapterManifest
/// <folder>/<name>/adapter.gguf      a GGUF LoRA file, or
/// <folder>/<name>/peft/             a PEFT folder
/// ```
///
/// The folder is `$LOCO_ADAPTERS` when set, else `$XDG_CACHE_HOME/locollm/adapters`, else
/// `~/.cache/locollm/adapters` (beside the default model store, `~/.cache/locollm/models`).
///
/// Changes are atomic per adapter: `add` builds the new entry in a hidden staging folder and
/// renames it into place; `remove` renames the entry away before deleting it. Names starting with
/// `.` are never entries, so a reader never sees a half-made one.
public struct AdapterRegistry: Sendable {
    public static let environmentVariable = "LOCO_ADAPTERS"
    public static let manifestFileName = "manifest.json"
    public static let ggufFileName = "adapter.gguf"
    public static let peftFolderName = "peft"
    /// The adapter's training data (chat JSONL), when it was added with it: the router fits on
    /// its prompts.
    public static let trainingDataFileName = "training.jsonl"

    public let folder: String

    public init(folder: String? = nil) {
        self.folder = folder ?? CacheFolder.path("adapters", overrideVariable: AdapterRegistry.environmentVariable)
    }

    /// 1 to 128 characters from `[A-Za-z0-9._-]`, not starting with `.` (so no `..`, no hidden
    /// staging names, and never a path).
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...128).contains(bytes.count), bytes[0] != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { c in
            (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    /// The folder of the entry `name` (whether or not it exists).
    public func entryFolder(_ name: String) throws(RegistryError) -> String {
        guard AdapterRegistry.isValidName(name) else { throw RegistryError(.invalidName(name), path: folder) }
        return folder + "/" + name
    }

    /// The names of the entries (subfolders not starting with `.`), sorted; empty when the folder
    /// does not exist.
    public func names() -> [String] {
        (try? FileSystem.entries(folder))?.filter { !$0.hasPrefix(".") && FileSystem.isDirectory(folder + "/" + $0) }.sorted() ?? []
    }

    /// Every entry's manifest, sorted by name; throws on the first entry whose manifest is
    /// missing or invalid.
    public func list() throws(RegistryError) -> [AdapterManifest] {
        var out: [AdapterManifest] = []
        for name in names() { out.append(try manifest(named: name)) }
        return out
    }

    /// The manifest of `name`, parsed and checked for sanity, its name equal to the folder's.
    public func manifest(named name: String) throws(RegistryError) -> AdapterManifest {
        let entry = try existingEntry(name)
        let path = entry + "/" + AdapterRegistry.manifestFileName
        guard FileSystem.exists(path) else { throw RegistryError(.missingFile(AdapterRegistry.manifestFileName), path: entry) }
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path, limit: 16 << 20) } catch { throw RegistryError(error) }
        let manifest = try AdapterManifest.parse(bytes, path: path)
        try manifest.checkSanity(path: path)
        guard manifest.name == name else { throw RegistryError(.nameMismatch(manifest: manifest.name, folder: name), path: path) }
        return manifest
    }

    /// The adapter file or PEFT folder of `name`.
    public func adapterPath(named name: String) throws(RegistryError) -> String {
        let entry = try existingEntry(name)
        let gguf = entry + "/" + AdapterRegistry.ggufFileName
        if FileSystem.exists(gguf) && !FileSystem.isDirectory(gguf) { return gguf }
        let peft = entry + "/" + AdapterRegistry.peftFolderName
        if FileSystem.isDirectory(peft) { return peft }
        throw RegistryError(.missingAdapter, path: entry)
    }

    /// `nameOrPath` when a file or folder of that path exists; otherwise the adapter of the
    /// registry entry of that name. A folder that cannot be an adapter (no `adapter_config.json`:
    /// `loco data math --out math` writes one called math) does not hide the entry of its name.
    public func resolve(_ nameOrPath: String) throws(RegistryError) -> String {
        if FileSystem.exists(nameOrPath) {
            if !Self.couldBeAdapter(nameOrPath), AdapterRegistry.isValidName(nameOrPath), let path = try? adapterPath(named: nameOrPath) {
                return path
            }
            return nameOrPath
        }
        guard AdapterRegistry.isValidName(nameOrPath) else {
            throw RegistryError(.notFound(nameOrPath), path: folder)
        }
        return try adapterPath(named: nameOrPath)
    }

    /// Whether an existing `path` could be an adapter: a file, or a folder with `adapter_config.json`.
    static func couldBeAdapter(_ path: String) -> Bool {
        !FileSystem.isDirectory(path) || FileSystem.exists(path + "/adapter_config.json")
    }

    /// The manifest and the loaded adapter of `name`, checked against each other: the manifest is
    /// sane and names its folder, the adapter loads, and its rank, alpha and targets equal the
    /// manifest's.
    public func load(named name: String) throws(RegistryError) -> (manifest: AdapterManifest, adapter: LoRAAdapter) {
        let manifest = try manifest(named: name)
        let path = try adapterPath(named: name)
        let adapter = try AdapterRegistry.loadAdapter(path)
        try AdapterRegistry.compare(manifest, adapter, path: folder + "/" + name + "/" + AdapterRegistry.manifestFileName)
        return (manifest, adapter)
    }

    /// Everything ``load(named:)`` checks, plus: the manifest's base fingerprint is `base`'s, and
    /// the adapter fits `base` (``LoRAAdapter/validate(against:)``).
    @discardableResult
    public func validate(named name: String, against base: GGUFFile) throws(RegistryError) -> AdapterManifest {
        let (manifest, adapter) = try load(named: name)
        let fingerprint = BaseFingerprint(of: base)
        guard manifest.baseModel == fingerprint else {
            throw RegistryError(.baseMismatch(manifest: manifest.baseModel, base: fingerprint),
                                path: folder + "/" + name + "/" + AdapterRegistry.manifestFileName)
        }
        do { try adapter.validate(against: base) } catch { throw RegistryError(.adapter(error), path: folder + "/" + name) }
        return manifest
    }

    /// Copies the adapter at `source` (a GGUF LoRA file or a PEFT folder: its top-level files) into
    /// the entry `manifest.name` and writes the manifest; returns the entry's folder.
    ///
    /// The manifest must be sane and its rank, alpha and targets those of the adapter. An existing
    /// entry of that name is an error unless `replace` is true; either way, on failure the
    /// registry holds what it held before.
    /// With `trainingData` (a chat JSONL file), a copy of it is kept in the entry as
    /// ``trainingDataFileName``.
    @discardableResult
    public func add(adapterAt source: String, manifest: AdapterManifest, trainingData: String? = nil,
                    replace: Bool = false) throws(RegistryError) -> String {
        try manifest.checkSanity()
        let entry = try entryFolder(manifest.name)
        let adapter = try AdapterRegistry.loadAdapter(source)
        try AdapterRegistry.compare(manifest, adapter, path: nil)
        if !replace && FileSystem.exists(entry) { throw RegistryError(.alreadyExists(manifest.name), path: folder) }

        do { try FileSystem.makeAll(folder) } catch { throw RegistryError(error) }
        let staging = folder + "/" + AdapterRegistry.hiddenName("staging", manifest.name)
        do {
            try FileSystem.makeDirectory(staging)
        } catch {
            throw RegistryError(error)
        }
        do {
            if FileSystem.isDirectory(source) {
                let peft = staging + "/" + AdapterRegistry.peftFolderName
                try FileSystem.makeDirectory(peft)
                for file in try FileSystem.entries(source) where !FileSystem.isDirectory(source + "/" + file) {
                    try FileSystem.copyFile(source + "/" + file, to: peft + "/" + file)
                }
            } else {
                try FileSystem.copyFile(source, to: staging + "/" + AdapterRegistry.ggufFileName)
            }
            if let trainingData { try FileSystem.copyFile(trainingData, to: staging + "/" + AdapterRegistry.trainingDataFileName) }
            try AtomicFile.write(Array(manifest.jsonText().utf8), to: staging + "/" + AdapterRegistry.manifestFileName)
            try FileSystem.syncDirectory(staging)
        } catch {
            FileSystem.removeAll(staging)
            throw RegistryError(error)
        }

        var trash: String?
        if replace && FileSystem.exists(entry) {
            let moved = folder + "/" + AdapterRegistry.hiddenName("trash", manifest.name)
            guard rename(entry, moved) == 0 else {
                let failure = FileSystemFailure("rename", entry)
                FileSystem.removeAll(staging)
                throw RegistryError(failure)
            }
            trash = moved
        }
        guard rename(staging, entry) == 0 else {
            let code = errno
            FileSystem.removeAll(staging)
            if let trash { _ = rename(trash, entry) }
            if code == EEXIST || code == ENOTEMPTY { throw RegistryError(.alreadyExists(manifest.name), path: folder) }
            throw RegistryError(FileSystemFailure("rename to", entry, code: code))
        }
        if let trash { FileSystem.removeAll(trash) }
        try? FileSystem.syncDirectory(folder)
        return entry
    }

    /// The entry's copy of the adapter's training data, or nil when it was added without.
    public func trainingDataPath(named name: String) throws(RegistryError) -> String? {
        let path = try existingEntry(name) + "/" + AdapterRegistry.trainingDataFileName
        return FileSystem.exists(path) ? path : nil
    }

    /// Removes the entry `name`: renamed away first, so it disappears at once, then deleted.
    public func remove(named name: String) throws(RegistryError) {
        let entry = try existingEntry(name)
        let trash = folder + "/" + AdapterRegistry.hiddenName("trash", name)
        guard rename(entry, trash) == 0 else { throw RegistryError(FileSystemFailure("rename", entry)) }
        FileSystem.removeAll(trash)
    }

    // MARK: - Helpers

    private func existingEntry(_ name: String) throws(RegistryError) -> String {
        let entry = try entryFolder(name)
        guard FileSystem.isDirectory(entry) else { throw RegistryError(.notFound(name), path: folder) }
        return entry
    }

    private static func hiddenName(_ kind: String, _ name: String) -> String {
        ".\(kind)-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func loadAdapter(_ path: String) throws(RegistryError) -> LoRAAdapter {
        guard FileSystem.exists(path) else { throw RegistryError(.missingAdapter, path: path) }
        do {
            return try LoRAAdapter(contentsOf: path)
        } catch let error as LoRAError {
            throw RegistryError(.adapter(error), path: path)
        } catch {
            throw RegistryError(.adapterUnreadable(String(describing: error)), path: path)
        }
    }

    static func compare(_ manifest: AdapterManifest, _ adapter: LoRAAdapter, path: String?) throws(RegistryError) {
        func mismatch(_ field: String, _ m: String, _ a: String) -> RegistryError {
            RegistryError(.manifestMismatch(field: field, manifest: m, adapter: a), path: path)
        }
        guard manifest.rank == adapter.rank else { throw mismatch("rank", "\(manifest.rank)", "\(adapter.rank)") }
        guard manifest.alpha == adapter.alpha else { throw mismatch("alpha", "\(manifest.alpha)", "\(adapter.alpha)") }
        guard manifest.targets.sorted() == adapter.targets.sorted() else {
            throw mismatch("targets", manifest.targets.joined(separator: ","), adapter.targets.joined(separator: ","))
        }
    }
}

/// Why a registry operation failed, naming the registry folder, entry or file and the field.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A name outside `[A-Za-z0-9._-]`, empty, too long or starting with `.`.
        case invalidName(String)
        /// No entry of that name (and, for `resolve`, no file of that path).
        case notFound(String)
        case alreadyExists(String)
        /// `manifest.json` is not JSON.
        case invalidJSON(String)
        /// A manifest field missing, of the wrong type or out of range (`training.steps`, ...).
        case invalidField(field: String, reason: String)
        /// The entry holds no `manifest.json` (the file name).
        case missingFile(String)
        /// The manifest's name is not its folder's.
        case nameMismatch(manifest: String, folder: String)
        /// Neither `adapter.gguf` nor `peft/` (or, for `add`, no file at the source path).
        case missingAdapter
        /// The adapter does not load, or does not fit the base.
        case adapter(LoRAError)
        /// The adapter's container is malformed (a GGUF or safetensors error, described).
        case adapterUnreadable(String)
        /// The manifest's rank, alpha or targets differ from the adapter file's.
        case manifestMismatch(field: String, manifest: String, adapter: String)
        /// The manifest's base fingerprint is not the given base's.
        case baseMismatch(manifest: BaseFingerprint, base: BaseFingerprint)
        case io(operation: String, path: String, errno: Int32, message: String)
    }

    public var kind: Kind
    /// The registry folder, entry folder or file concerned.
    public var path: String?

    public init(_ kind: Kind, path: String? = nil) {
        self.kind = kind
        self.path = path
    }

    public init(_ failure: FileSystemFailure) {
        self.init(.io(operation: failure.operation, path: failure.path, errno: failure.code, message: failure.message))
    }

    public var description: String {
        let prefix = path.map { "\($0): " } ?? ""
        switch kind {
        case .invalidName(let name):
            return prefix + "'\(name)' is not a valid adapter name (1 to 128 characters from A-Z a-z 0-9 . _ -, not starting with '.')"
        case .notFound(let name): return prefix + "no adapter named '\(name)' (and no file or folder of that path)"
        case .alreadyExists(let name): return prefix + "an adapter named '\(name)' already exists (replace it explicitly)"
        case .invalidJSON(let reason): return prefix + "not valid JSON: \(reason)"
        case .invalidField(let field, let reason): return prefix + "'\(field)' \(reason)"
        case .missingFile(let file): return prefix + "\(file) is missing"
        case .nameMismatch(let manifest, let folder): return prefix + "the manifest's name is '\(manifest)' but its folder is '\(folder)'"
        case .missingAdapter: return prefix + "no adapter: expected \(AdapterRegistry.ggufFileName) or a \(AdapterRegistry.peftFolderName)/ folder"
        case .adapter(let error): return prefix + "adapter: \(error)"
        case .adapterUnreadable(let reason): return prefix + "the adapter cannot be read: \(reason)"
        case .manifestMismatch(let field, let manifest, let adapter):
            return prefix + "the manifest's \(field) is \(manifest) but the adapter's is \(adapter)"
        case .baseMismatch(let manifest, let base):
            return prefix + "the adapter was made for base \(manifest.architecture) \(manifest.tensors) but the given base is \(base.architecture) \(base.tensors)"
        case .io(let operation, let path, let errno, let message):
            return prefix + "\(operation) '\(path)' failed: \(message) (errno \(errno))"
        }
    }
}
