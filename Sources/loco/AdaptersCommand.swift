import ArgumentParser
import Foundation
import LocoLLM

/// `loco adapters list|add|remove|validate`: the adapter registry.
struct Adapters: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add, remove and validate adapters in the adapter registry.",
        discussion: "The registry is $\(AdapterRegistry.environmentVariable) when set, else ~/.cache/locollm/adapters "
            + "($XDG_CACHE_HOME/locollm/adapters). Each adapter is a folder with manifest.json and adapter.gguf or peft/.",
        subcommands: [List.self, Add.self, Remove.self, Validate.self]
    )

    struct RegistryOption: ParsableArguments {
        @Option(help: "The registry folder (default: $\(AdapterRegistry.environmentVariable) or ~/.cache/locollm/adapters).")
        var registry: String?

        var value: AdapterRegistry { AdapterRegistry(folder: registry) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the adapters and their manifests.")

        @OptionGroup var registry: RegistryOption

        @Flag(help: "Print the manifests as a JSON array.")
        var json = false

        func run() throws {
            let registry = registry.value
            var manifests: [AdapterManifest] = []
            var failed = false
            for name in registry.names() {
                do {
                    let manifest = try registry.manifest(named: name)
                    if json {
                        manifests.append(manifest)
                    } else {
                        let keywords = manifest.routerKeywords.isEmpty ? "" : "  [" + manifest.routerKeywords.joined(separator: ", ") + "]"
                        print("\(manifest.name)  \(manifest.version)  rank \(manifest.rank)  alpha \(manifest.alpha)  "
                              + "\(manifest.targets.count) targets  base \(manifest.baseModel)\(keywords)")
                        if !manifest.description.isEmpty { print("    \(manifest.description)") }
                    }
                } catch {
                    failed = true
                    FileHandle.standardError.write(Data("loco: \(error)\n".utf8))
                }
            }
            if json {
                print(AdapterManifest.jsonText(manifests))
            } else if registry.names().isEmpty {
                print("no adapters in \(registry.folder)")
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy an adapter (GGUF LoRA file or PEFT folder) into the registry with a manifest.",
            discussion: "Rank, alpha and targets come from the adapter; the base fingerprint from --base (default: the default model)."
        )

        @OptionGroup var registry: RegistryOption

        @Argument(help: "The GGUF LoRA file or PEFT folder.")
        var path: String

        @Option(help: "The adapter's name in the registry ([A-Za-z0-9._-]).")
        var name: String

        @Option(help: "Version.")
        var version = "1.0.0"

        @Option(help: "One-line description.")
        var description = ""

        @Option(parsing: .singleValue, help: "An author (repeatable).")
        var author: [String] = []

        @Option(help: "The base model (GGUF path or model-store name). Default: the default model.")
        var base: String?

        @Option(help: "Router keywords, comma-separated.")
        var keywords: String?

        @Option(help: "Example queries, separated by '|'.")
        var examples: String?

        @Option(help: "The adapter's training data (chat JSONL), kept in the registry: the router fits on its prompts.")
        var trainingData: String?

        @Flag(help: "Replace an existing adapter of that name.")
        var replace = false

        func run() throws {
            do {
                let file = try GGUFFile(contentsOf: try ModelStore().resolve(base))
                let adapter = try LoRAAdapter(contentsOf: path)
                var manifest = AdapterManifest(name: name, version: version, description: description, adapter: adapter, base: file)
                manifest.authors = author
                manifest.routerKeywords = split(keywords, ",")
                manifest.exampleQueries = split(examples, "|")
                if let trainingData {
                    let prompts = try Routes.trainingPrompts(contentsOf: trainingData)
                    guard !prompts.isEmpty else {
                        throw RouterError(.invalidRoutes("no conversation has a user message to route by"), path: trainingData)
                    }
                }
                let entry = try registry.value.add(adapterAt: path, manifest: manifest, trainingData: trainingData, replace: replace)
                print("added \(name) to \(entry)")
            } catch {
                throw fail(error)
            }
        }

        private func split(_ text: String?, _ separator: Character) -> [String] {
            (text ?? "").split(separator: separator).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an adapter from the registry.")

        @OptionGroup var registry: RegistryOption

        @Argument(help: "The adapter's name.")
        var name: String

        func run() throws {
            do {
                try registry.value.remove(named: name)
                print("removed \(name)")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an adapter: manifest, adapter file, rank/alpha/targets, and the base fingerprint and shapes."
        )

        @OptionGroup var registry: RegistryOption

        @Argument(help: "The adapter's name.")
        var name: String

        @Option(help: "The base model (GGUF path or model-store name). Default: the default model.")
        var base: String?

        func run() throws {
            do {
                let file = try GGUFFile(contentsOf: try ModelStore().resolve(base))
                let manifest = try registry.value.validate(named: name, against: file)
                print("\(manifest.name) \(manifest.version): valid for base \(manifest.baseModel)")
            } catch {
                throw fail(error)
            }
        }
    }
}
