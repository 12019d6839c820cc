import Foundation
import LocoSupport

/// An evaluation (`loco eval run`, `sweep` or `select`) written as a Slurm job array and a merge
/// job that waits for it: task `I` of `N` runs shard `I/N` (``Shard``) into `OUT/shards/I`,
/// then `loco eval merge` writes the unsharded run's results into `OUT`. LocoLLM does not
/// schedule anything itself; Slurm does.
///
/// A requeued task (preempted, its node lost, `scontrol requeue`) runs the same command again,
/// which continues its shard from what it wrote. Before its work each task checks the input
/// files it was written for by content (``InputFile``: path, size and SHA-256), so a node that
/// sees another copy of a model, adapter or suite fails at once, naming the file.
public struct SlurmJob: Sendable, Equatable {
    /// The `loco eval` subcommand the tasks run.
    public enum Kind: String, Sendable, CaseIterable {
        case run, sweep, select
    }

    /// A file the tasks read, as the job was written for it.
    public struct InputFile: Sendable, Codable, Equatable {
        public var path: String
        public var bytes: Int
        public var sha256: String

        public init(path: String, bytes: Int, sha256: String) {
            self.path = path
            self.bytes = bytes
            self.sha256 = sha256
        }

        /// The file at `path` (absolute) as it is now.
        public init(hashing path: String) throws {
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            self.init(path: path, bytes: size, sha256: try ContentHash.sha256(ofFile: path))
        }
    }

    public var kind: Kind
    /// The subcommand's arguments with absolute paths, without `--out` and `--shard`.
    public var arguments: [String]
    /// The job's folder (absolute): `slurm/` for the scripts and logs, `shards/I` for each
    /// task, and the merged results.
    public var folder: String
    public var tasks: Int
    public var partition: String
    /// `--time` of each task (Slurm's formats, e.g. `2:00:00`); nil: the partition's default.
    public var time: String?
    /// `--mem` of each task (e.g. `6G`); nil: the partition's default.
    public var memory: String?
    public var cpusPerTask: Int?
    /// The `loco` the tasks run (absolute; it must be reachable from every node).
    public var executable: String
    public var inputs: [InputFile]

    public init(kind: Kind, arguments: [String], folder: String, tasks: Int, partition: String, time: String? = nil, memory: String? = nil,
                cpusPerTask: Int? = nil, executable: String, inputs: [InputFile] = []) {
        self.kind = kind
        self.arguments = arguments
        self.folder = folder
        self.tasks = tasks
        self.partition = partition
        self.time = time
        self.memory = memory
        self.cpusPerTask = cpusPerTask
        self.executable = executable
        self.inputs = inputs
    }

    public var arrayScriptPath: String { folder + "/slurm/array.sbatch" }
    public var mergeScriptPath: String { folder + "/slurm/merge.sbatch" }
    public var inputsPath: String { folder + "/slurm/inputs.json" }
    public var jobPath: String { folder + "/slurm/job.json" }
    public func shardFolder(_ index: Int) -> String { "\(folder)/shards/\(index)" }

    /// The job-array script.
    public func arrayScript() -> String {
        var lines = ["#!/bin/bash", "#SBATCH --job-name=loco-\(kind.rawValue)", "#SBATCH --partition=\(partition)",
                     "#SBATCH --array=0-\(tasks - 1)"]
        if let cpusPerTask { lines.append("#SBATCH --cpus-per-task=\(cpusPerTask)") }
        if let memory { lines.append("#SBATCH --mem=\(memory)") }
        if let time { lines.append("#SBATCH --time=\(time)") }
        lines += ["#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --output=\(folder)/slurm/logs/task-%a.log",
                  "# Written by `loco slurm \(kind.rawValue)`. Task I runs shard I/\(tasks) into \(folder)/shards/I; a task that",
                  "# is requeued runs the same command again, which continues its shard from what it wrote.",
                  "set -eu",
                  ": \"${SLURM_ARRAY_TASK_ID:?submit this script with sbatch}\"",
                  "\(Self.quote(executable)) slurm verify \(Self.quote(inputsPath))",
                  "exec " + ([executable, "eval", kind.rawValue] + arguments).map(Self.quote).joined(separator: " ")
                    + " --out \"\(folder)/shards/$SLURM_ARRAY_TASK_ID\" --shard \"$SLURM_ARRAY_TASK_ID/\(tasks)\""]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The merge job's script (submitted to start after every task has succeeded).
    public func mergeScript() -> String {
        var lines = ["#!/bin/bash", "#SBATCH --job-name=loco-\(kind.rawValue)-merge", "#SBATCH --partition=\(partition)",
                     "#SBATCH --cpus-per-task=1"]
        if let time { lines.append("#SBATCH --time=\(time)") }
        lines += ["#SBATCH --output=\(folder)/slurm/logs/merge.log",
                  "# Written by `loco slurm \(kind.rawValue)`: joins the \(tasks) shards into \(folder).",
                  "set -eu",
                  "exec " + ([executable, "eval", "merge"] + (0..<tasks).map(shardFolder) + ["--out", folder]).map(Self.quote).joined(separator: " ")]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the two scripts and the inputs' manifest into `folder/slurm/`.
    public func write() throws {
        try FileSystem.makeAll(folder + "/slurm/logs")
        try AtomicFile.write(Array(arrayScript().utf8), to: arrayScriptPath)
        try AtomicFile.write(Array(mergeScript().utf8), to: mergeScriptPath)
        try AtomicFile.write(Array(try Self.encoder.encode(inputs)) + [0x0A], to: inputsPath)
    }

    /// The submitted jobs, as `job.json` records them.
    public struct Submission: Sendable, Codable, Equatable {
        public var arrayJob: String
        public var mergeJob: String
        public var tasks: Int

        public init(arrayJob: String, mergeJob: String, tasks: Int) {
            self.arrayJob = arrayJob
            self.mergeJob = mergeJob
            self.tasks = tasks
        }

        enum CodingKeys: String, CodingKey {
            case arrayJob = "array_job"
            case mergeJob = "merge_job"
            case tasks
        }
    }

    /// Submits the array and the merge job (after it, only if every task succeeded) with
    /// `sbatch`, and records them in `job.json`.
    public func submit() throws -> Submission {
        let array = try Self.sbatch(["--parsable", arrayScriptPath])
        let merge = try Self.sbatch(["--parsable", "--dependency=afterok:\(array)", "--kill-on-invalid-dep=yes", mergeScriptPath])
        let submission = Submission(arrayJob: array, mergeJob: merge, tasks: tasks)
        try AtomicFile.write(Array(try Self.encoder.encode(submission)) + [0x0A], to: jobPath)
        return submission
    }

    /// Runs `sbatch arguments` and returns the job id it prints (`--parsable`: `ID` or `ID;CLUSTER`).
    static func sbatch(_ arguments: [String]) throws -> String {
        let result = try SlurmCommand.run("sbatch", arguments)
        guard result.status == 0 else { throw SlurmError("sbatch \(arguments.joined(separator: " ")) failed: \(result.error)") }
        let id = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw SlurmError("sbatch printed no job id: '\(result.output)'") }
        return id
    }

    /// Checks every input against the manifest at `path`: the same size and SHA-256.
    public static func verify(manifest path: String) throws {
        let inputs: [InputFile]
        do {
            inputs = try JSONDecoder().decode([InputFile].self, from: Data(try FileSystem.read(path, limit: 16 << 20)))
        } catch let error as FileSystemFailure {
            throw SlurmError("cannot read the job's inputs manifest: \(error)")
        } catch {
            throw SlurmError("\(path) is not a job's inputs manifest: \(error)")
        }
        let host = ProcessInfo.processInfo.hostName
        for input in inputs {
            guard FileSystem.exists(input.path) else {
                throw SlurmError("\(input.path) is not on \(host): the job was written for it (sha256 \(input.sha256)); put it there, on a shared file system")
            }
            let now = try InputFile(hashing: input.path)
            guard now.bytes == input.bytes, now.sha256 == input.sha256 else {
                throw SlurmError("\(input.path) on \(host) is not the file the job was written for: sha256 \(now.sha256) (\(now.bytes) bytes), expected \(input.sha256) (\(input.bytes) bytes)")
            }
        }
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }

    /// Single-quotes `text` for bash.
    static func quote(_ text: String) -> String {
        if !text.isEmpty, text.allSatisfy({ $0.isLetter || $0.isNumber || "/._-+=:,@".contains($0) }), text.unicodeScalars.allSatisfy(\.isASCII) {
            return text
        }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// A Slurm job that cannot be written, submitted or checked.
public struct SlurmError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs Slurm's commands (`sbatch`, `squeue`, `sacct`), with a clear error where they are missing.
public enum SlurmCommand {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var error: String
    }

    /// The absolute path of `name` on `PATH`, nil when it is not there.
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public static func run(_ name: String, _ arguments: [String]) throws -> Result {
        guard let executable = find(name) else {
            throw SlurmError("\(name) is not on this machine's PATH: install Slurm's client commands (Debian and Ubuntu: apt-get install slurm-client) "
                             + "on a machine of the cluster, or write the job without --submit and submit its scripts there with sbatch")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errorData = LockedBytes()
        let reader = Thread { errorData.set(error.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorData.isSet { usleep(1000) }
        return Result(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
                      error: String(decoding: errorData.value, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Bytes one thread sets and another reads.
final class LockedBytes: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?

    func set(_ value: Data) { lock.withLock { data = value } }
    var isSet: Bool { lock.withLock { data != nil } }
    var value: Data { lock.withLock { data ?? Data() } }
}
