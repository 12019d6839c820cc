import Foundation
import LocoLLM
import Synchronization

/// The models a server offers over its one base: the base by name, each adapter of the registry
/// (unmerged, for the request that names it), and `auto`, for which the router picks.
///
/// Names a request gives never reach the file system as they are: an adapter name must be a
/// valid registry name (`[A-Za-z0-9._-]`, not starting with `.`) that is one of the registry's
/// entries, and only then is its folder read.
final class ModelCatalog: Sendable {
    let engine: Engine
    /// The base's name (`smollm2-135m-instruct`): the model file's name, lowercased, without
    /// `.gguf` and a quantization suffix, unless the server was given one.
    let baseName: String
    let fileBytes: Int
    let modified: Date
    /// `sha256:` and the model file's SHA-256.
    let digest: String
    let fileType: String?
    private let router = Mutex<FittedRouter?>(nil)

    /// A request's choice of model.
    enum Choice: Sendable, Equatable {
        case base
        case adapter(String)
        case auto
    }

    init(engine: Engine, name: String?) throws {
        self.engine = engine
        baseName = name ?? ModelCatalog.name(ofFile: engine.modelPath)
        let attributes = try FileManager.default.attributesOfItem(atPath: engine.modelPath)
        fileBytes = (attributes[.size] as? NSNumber)?.intValue ?? 0
        modified = attributes[.modificationDate] as? Date ?? Date()
        digest = "sha256:" + (try ModelCatalog.sha256(ofFile: engine.modelPath))
        fileType = (try? engine.model.file.metadata.integer("general.file_type", as: UInt32.self))
            .flatMap { QuantizationFileType(fileTypeID: $0)?.rawValue }
    }

    static func sha256(ofFile path: String) throws -> String {
        do { return try ContentHash.sha256(ofFile: path) } catch { throw ServerError(.internalError, "cannot read \(path): \(error.message)") }
    }

    /// `SmolLM2-135M-Instruct.Q4_1.gguf` -> `smollm2-135m-instruct`; `gemma-3-270m-q4_k_m.gguf` -> `gemma-3-270m`.
    static func name(ofFile path: String) -> String {
        var name = (path as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".gguf") { name.removeLast(5) }
        for separator in [".", "-", "_"] {
            guard let range = name.range(of: separator, options: .backwards) else { continue }
            let suffix = String(name[range.upperBound...])
            if QuantizationFileType(name: suffix) != nil {
                name = String(name[..<range.lowerBound])
                break
            }
        }
        return name.isEmpty ? "model" : name
    }

    /// The registry's adapters, by name.
    var adapterNames: [String] { engine.registry.names().filter(AdapterRegistry.isValidName) }

    /// Every name `/api/tags` and `/v1/models` list: the base, each adapter, `auto`.
    var modelNames: [String] { [baseName] + adapterNames + ["auto"] }

    /// What `model` names: the base (`BASE` or `BASE:latest`), an adapter (`ADAPTER`,
    /// `BASE:ADAPTER`), or `auto` (`BASE:auto`).
    func resolve(_ model: String?) throws(ServerError) -> Choice {
        guard let model, !model.isEmpty else { throw ServerError(.badRequest, "`model` is required", parameter: "model") }
        var name = model
        if let colon = model.firstIndex(of: ":") {
            let base = String(model[..<colon]), tag = String(model[model.index(after: colon)...])
            guard base == baseName else { throw notFound(model) }
            if tag == "latest" || tag.isEmpty { return .base }
            name = tag
        }
        if name == baseName { return .base }
        if name == "auto" { return .auto }
        guard AdapterRegistry.isValidName(name), adapterNames.contains(name) else { throw notFound(model) }
        return .adapter(name)
    }

    private func notFound(_ model: String) -> ServerError {
        ServerError(.notFound, "model '\(model)' not found; this server has \(modelNames.joined(separator: ", "))", parameter: "model")
    }

    /// The adapter set of the registry entry `name` (read once per engine).
    func adapters(named name: String) throws(ServerError) -> AdapterSet? {
        do {
            let path = try engine.registry.adapterPath(named: name)
            return try engine.adapters([(path, 1)])
        } catch {
            throw ServerError(.internalError, "adapter '\(name)' cannot be used: \(error)")
        }
    }

    /// The adapter `auto` picks for `query` (nil: the base), fitting the router on first use. Runs
    /// model work: call it on the compute thread.
    func route(_ query: String) throws -> String? {
        guard !adapterNames.isEmpty else { return nil }
        let fitted = try router.withLock { kept -> FittedRouter in
            if let kept { return kept }
            let made = try engine.automaticRouter()
            kept = made
            return made
        }
        return try fitted.route(query).route
    }
}
