import Foundation
import LocoTestSupport

/// A `loco serve` child process on a free loopback port (`--port 0`; the port is read from the
/// line the server prints once it listens). Stopped with SIGTERM.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let url: String
    let stderrPath: String

    init(_ loco: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: loco)
        process.arguments = ["serve", "--port", "0"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        stderrPath = NSTemporaryDirectory() + "loco-serve-\(UUID().uuidString).err"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read the first line (the server prints it once it is listening).
        var line = Data()
        let deadline = Date().addingTimeInterval(120)
        let handle = out.fileHandleForReading
        while Date() < deadline {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { break }
            if byte[0] == 0x0A { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: #"http://[0-9.]+:[0-9]+"#, options: .regularExpression) else {
            process.terminate()
            let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw PeerError.failed("loco serve did not start: \(text) \(log)")
        }
        url = String(text[range])
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}

/// A plain HTTP exchange through curl: status, headers (lowercased names) and body.
struct Exchange {
    var status: Int
    var headers: [String: String]
    var body: String

    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }

    /// `curl` with `arguments` after the URL (`-d`, `-H`, `-X`, ...).
    static func curl(_ url: String, _ arguments: [String] = []) throws -> Exchange {
        let headerFile = NSTemporaryDirectory() + "loco-curl-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: headerFile) }
        let result = try run("curl", ["-sS", "-N", "-D", headerFile, "--max-time", "120", url] + arguments)
        guard result.status == 0 else { throw PeerError.failed("curl \(url): \(result.stderr)") }
        let raw = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        var status = 0
        var headers: [String: String] = [:]
        for line in raw.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("HTTP/") {
                status = Int(line.split(separator: " ")[1]) ?? 0
            } else if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return Exchange(status: status, headers: headers, body: result.stdoutText)
    }
}
