import GGUFFormat

/// libFuzzer's entry point: parse the bytes as a GGUF file. Malformed input must throw
/// `GGUFError`; anything else thrown stops the run. A file that parses is read completely (every
/// metadata value decoded, nested arrays recursively; every tensor byte summed), so an
/// out-of-bounds read is caught by AddressSanitizer or by a Swift bounds check.
///
/// `main.swift` passes this to libFuzzer; it is exported under the name libFuzzer looks for too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let file: GGUFFile
    do {
        file = try GGUFFile(bytes: bytes)
    } catch let error as GGUFError {
        // The message is built from the input (keys, names, bytes): it must not trap either.
        blackHole(UInt64(error.description.utf8.count))
        if let offset = error.offset {
            precondition((0...size).contains(offset), "error offset \(offset) outside the \(size)-byte input: \(error)")
        }
        return 0
    } catch {
        fatalError("GGUFFile threw \(type(of: error)), not GGUFError: \(error)")
    }
    var checksum: UInt64 = 0
    for entry in file.metadata {
        checksum &+= consume(entry.value)
        precondition(file.metadata[entry.key] == entry.value, "lookup of '\(entry.key)' differs from the entry")
        // Typed access: the wrong type throws GGUFError, the right type succeeds.
        do {
            _ = try? file.metadata.integer(entry.key, as: Int32.self)
            if case .string = entry.value { checksum &+= UInt64(try file.metadata.string(entry.key).utf8.count) }
            if case .bool = entry.value { _ = try file.metadata.bool(entry.key) }
            if entry.value.floatingValue != nil { _ = try file.metadata.float(entry.key) }
            if case .array = entry.value { _ = try file.metadata.array(entry.key) }
        } catch {
            fatalError("typed access to '\(entry.key)' of its own type threw \(error)")
        }
    }
    _ = file.architecture
    var total = 0
    for tensor in file.tensors {
        let view = file.tensorData(tensor)
        precondition(view.range.count == tensor.byteCount && view.range.upperBound <= size,
                     "tensor '\(tensor.name)' range \(view.range) in a \(size)-byte input")
        checksum &+= view.withUnsafeBytes { $0.reduce(UInt64(0)) { $0 &+ UInt64($1) } }
        precondition((try? file.tensorData(named: tensor.name))?.range == view.range, "tensor '\(tensor.name)' by name")
        _ = (tensor.rowCount, tensor.rowByteCount)
        total += tensor.byteCount
    }
    precondition(total <= size, "tensors hold \(total) bytes in a \(size)-byte input")
    _ = file.parameterCount
    do {
        _ = try GGUFWriter(copying: file).encodedHeader()
    } catch {
        fatalError("a parsed file cannot be encoded again: \(error)")
    }
    blackHole(checksum)
    return 0
}

/// Decodes `value` completely, recursively through nested arrays.
func consume(_ value: GGUFValue) -> UInt64 {
    switch value {
    case .string(let s):
        return UInt64(s.utf8.count)
    case .array(let array):
        let values = array.values
        precondition(values.count == array.count, "array of \(array.count) decoded to \(values.count) values")
        var sum = UInt64(values.count)
        for element in values {
            precondition(element.type == array.elementType, "array element of the wrong type")
            sum &+= consume(element)
        }
        if array.elementType == .string {
            do {
                sum &+= UInt64(try array.strings().count)
            } catch {
                fatalError("strings() of an array of strings threw \(error)")
            }
            array.withStringBytes { i, bytes in sum &+= bytes.reduce(UInt64(i)) { $0 &+ UInt64($1) } }
        } else if array.elementType.isInteger {
            sum &+= UInt64((try? array.integers())?.count ?? 0)
        } else if array.elementType == .float32 || array.elementType == .float64 {
            sum &+= UInt64((try? array.floats())?.count ?? 0)
        }
        return sum
    default:
        return UInt64(truncatingIfNeeded: value.integerValue ?? 0)
    }
}

@inline(never)
func blackHole(_ value: UInt64) {
    if value == 0x5EED_5EED_5EED_5EED { print("") }
}
