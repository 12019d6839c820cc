#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The SDK's folders on this machine: `$OVERRIDE` when that variable is set and not empty, else
/// `$XDG_CACHE_HOME/locollm/NAME`, else `~/.cache/locollm/NAME` (models, adapters, peers).
public enum CacheFolder {
    /// The folder `name` under the SDK's cache, or the value of `overrideVariable` when set.
    public static func path(_ name: String, overrideVariable: String? = nil) -> String {
        if let overrideVariable, let value = environment(overrideVariable) { return value }
        if let cache = environment("XDG_CACHE_HOME") { return cache + "/locollm/" + name }
        return (environment("HOME") ?? ".") + "/.cache/locollm/" + name
    }

    /// An environment variable's value; nil when unset or empty.
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}
