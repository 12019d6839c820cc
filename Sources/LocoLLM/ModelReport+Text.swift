extension ModelReport {
    /// The report as aligned text; arrays longer than `arrayPreview` items are summarized.
    public func renderText(arrayPreview: Int = 6) -> String {
        var lines: [String] = []
        lines.append("file        \(path)")
        lines.append("size        \(ByteFormat.string(fileBytes)) (GGUF v\(version), alignment \(alignment), data at \(dataOffset))")
        if let architecture { lines.append("arch        \(architecture)") }
        if let name { lines.append("name        \(name)") }
        lines.append("parameters  \(ByteFormat.count(parameterCount)) (\(parameterCount))")
        lines.append("")
        lines.append("metadata (\(metadata.count) keys)")
        let keyWidth = metadata.map(\.key.count).max() ?? 0
        let typeWidth = metadata.map(\.type.count).max() ?? 0
        for item in metadata {
            lines.append("  " + pad(item.key, keyWidth) + "  " + pad(item.type, typeWidth) + "  " + summary(item.value, preview: arrayPreview))
        }
        lines.append("")
        lines.append("tensors (\(tensors.count), \(ByteFormat.string(tensorBytes)))")
        let nameWidth = tensors.map(\.name.count).max() ?? 0
        let shapes = tensors.map { "[" + $0.shape.map(String.init).joined(separator: ", ") + "]" }
        let shapeWidth = shapes.map(\.count).max() ?? 0
        for (tensor, shape) in zip(tensors, shapes) {
            lines.append("  " + pad(tensor.name, nameWidth) + "  " + pad(shape, shapeWidth) + "  " + pad(tensor.type, 7) + "  " + ByteFormat.string(tensor.bytes))
        }
        lines.append("")
        lines.append("totals by type")
        for total in totalsByType {
            lines.append("  " + pad(total.type, 7) + "  " + pad("\(total.tensors) tensors", 12) + "  "
                + pad(ByteFormat.count(total.parameters) + " params", 16) + "  " + ByteFormat.string(total.bytes))
        }
        if let memory {
            lines.append("")
            lines.append("estimated memory for a run (context \(memory.contextLength), \(memory.kvCacheType) KV cache)")
            lines.append("  weights (mapped)  \(ByteFormat.string(memory.weightBytes))")
            lines.append("  KV cache          \(ByteFormat.string(memory.kvCacheBytes))")
            lines.append("  scratch           \(ByteFormat.string(memory.scratchBytes))")
            lines.append("  total             \(ByteFormat.string(memory.totalBytes))")
        }
        return lines.joined(separator: "\n")
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    private func summary(_ value: ReportValue, preview: Int) -> String {
        switch value {
        case .array(let items) where items.count > preview:
            let head = items.prefix(preview).map { summary($0, preview: preview) }.joined(separator: ", ")
            return "\(items.count) items: [\(head), ...]"
        case .array(let items):
            return "[" + items.map { summary($0, preview: preview) }.joined(separator: ", ") + "]"
        case .string(let s):
            let escaped = s.replacingAll("\n", with: "\\n")
            return escaped.count > 80 ? "\"" + escaped.prefix(77) + "...\" (\(s.utf8.count) bytes)" : "\"\(escaped)\""
        case .integer(let v): return "\(v)"
        case .unsigned(let v): return "\(v)"
        case .number(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        }
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// Human-readable byte sizes and counts.
public enum ByteFormat {
    public static func string(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : fixed(value, 2) + " " + units[unit]
    }

    public static func count(_ n: Int) -> String {
        switch n {
        case 1_000_000_000...: fixed(Double(n) / 1e9, 2) + " B"
        case 1_000_000...: fixed(Double(n) / 1e6, 2) + " M"
        case 1_000...: fixed(Double(n) / 1e3, 2) + " K"
        default: "\(n)"
        }
    }

    public static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var s = "\(rounded)"
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: s.index(after: dot), to: s.endIndex)
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        }
        return s
    }
}
