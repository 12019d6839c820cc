import ArgumentParser
import Foundation
import LocoLLM

/// `loco slurm run|sweep|select ...`: an evaluation as a Slurm job array and a merge job.
struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Run an eval run, sweep or select on a Slurm cluster: a job array of shards and a merge job.",
        discussion: """
            `loco slurm sweep --partition P --array-size N --out DIR [sweep's options]` writes DIR/slurm/array.sbatch \
            (task I runs `loco eval sweep ... --shard I/N --out DIR/shards/I`, resumable when requeued), \
            DIR/slurm/merge.sbatch (`loco eval merge`, after every task succeeded) and DIR/slurm/inputs.json (the \
            model, adapter, suite and text files by size and SHA-256, checked by each task before it starts); \
            --submit submits both with sbatch. The merged results land in DIR. See Documentation/Cluster.md.
            """,
        subcommands: [Job<RunKind>.self, Job<SweepKind>.self, Job<SelectKind>.self, Status.self, Verify.self])

    /// Which `loco eval` subcommand a job runs, and which of its options name input files.
    protocol JobKind {
        static var kind: LocoLLM.SlurmJob.Kind { get }
        static var eval: any ParsableCommand.Type { get }
        /// Options whose values are files or folders the tasks read (checked by content).
        static var fileOptions: Set<String> { get }
        /// Whether the command takes --model (given here explicitly, so every task uses one file).
        static var takesModel: Bool { get }
    }

    enum RunKind: JobKind {
        static let kind = LocoLLM.SlurmJob.Kind.run
        static let eval: any ParsableCommand.Type = EvalCommand.SuiteCommand.self
        static let fileOptions: Set<String> = ["--suite", "--adapter"]
        static let takesModel = true
    }

    enum SweepKind: JobKind {
        static let kind = LocoLLM.SlurmJob.Kind.sweep
        static let eval: any ParsableCommand.Type = EvalCommand.Sweep.self
        static let fileOptions: Set<String> = ["--suite", "--adapter", "--text"]
        static let takesModel = true
    }

    enum SelectKind: JobKind {
        static let kind = LocoLLM.SlurmJob.Kind.select
        static let eval: any ParsableCommand.Type = Select.self
        static let fileOptions: Set<String> = ["--suite", "--train-data"]
        static let takesModel = false
    }

    struct Job<Kind: JobKind>: ParsableCommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(commandName: Kind.kind.rawValue,
                                 abstract: "Write (and with --submit, submit) `loco eval \(Kind.kind.rawValue)` as a Slurm job array and its merge job.",
                                 discussion: "Every option not listed here is passed to `loco eval \(Kind.kind.rawValue)`; see its help.")
        }

        @Option(help: "The Slurm partition.")
        var partition: String

        @Option(help: "Tasks in the job array: the shards.")
        var arraySize: Int

        @Option(help: "The job's folder: scripts and logs in DIR/slurm, each shard in DIR/shards/I, the merged results in DIR. Must be on a file system every node sees.")
        var out: String

        @Option(help: "Each task's time limit (sbatch --time, e.g. 2:00:00).")
        var time: String?

        @Option(help: "Each task's memory (sbatch --mem, e.g. 6G).")
        var mem: String?

        @Option(help: "CPUs of each task (sbatch --cpus-per-task); also the evaluation's --threads unless that is given.")
        var cpusPerTask: Int?

        @Option(help: "The loco the tasks run (default: this one); every node must see it at that path.")
        var loco: String?

        @Flag(help: "Submit the array and the merge job with sbatch (else only write the scripts).")
        var submit = false

        @Argument(parsing: .allUnrecognized, help: "The options of `loco eval \(Kind.kind.rawValue)`.")
        var evalArguments: [String] = []

        func validate() throws {
            guard arraySize >= 1 else { throw ValidationError("--array-size must be at least 1") }
            if let cpusPerTask, cpusPerTask < 1 { throw ValidationError("--cpus-per-task must be at least 1") }
            for reserved in ["--out", "--shard"] where evalArguments.contains(where: { $0 == reserved || $0.hasPrefix(reserved + "=") }) {
                throw ValidationError("\(reserved) is the job's to set: each task writes DIR/shards/I as shard I/N")
            }
        }

        func run() throws {
            do {
                let folder = absolute(out)
                var (arguments, inputs) = try resolveInputs()
                if let cpusPerTask, !arguments.contains(where: { $0 == "--threads" || $0.hasPrefix("--threads=") }) {
                    arguments += ["--threads", String(cpusPerTask)]
                }
                // The tasks' command must parse: a mistake fails here, not on every node.
                do {
                    _ = try Kind.eval.parseAsRoot(arguments + ["--out", folder + "/shards/0", "--shard", "0/\(arraySize)"])
                } catch {
                    throw ValidationError("loco eval \(Kind.kind.rawValue): \(Kind.eval.message(for: error))")
                }
                let executable = loco.map(absolute) ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                    ?? absolute(CommandLine.arguments[0])
                let job = LocoLLM.SlurmJob(kind: Kind.kind, arguments: arguments, folder: folder, tasks: arraySize, partition: partition,
                                           time: time, memory: mem, cpusPerTask: cpusPerTask, executable: executable, inputs: inputs)
                try job.write()
                print("wrote \(job.arrayScriptPath) (\(arraySize) tasks), \(job.mergeScriptPath) and \(job.inputsPath) (\(inputs.count) input files)")
                if submit {
                    let submission = try job.submit()
                    print("submitted job array \(submission.arrayJob) and merge job \(submission.mergeJob); `loco slurm status \(out)` follows them")
                } else {
                    print("submit with: jobid=$(sbatch --parsable \(job.arrayScriptPath)) && "
                          + "sbatch --dependency=afterok:$jobid --kill-on-invalid-dep=yes \(job.mergeScriptPath)")
                }
            } catch let error as ValidationError {
                throw fail(error.message)
            } catch {
                throw fail(error)
            }
        }

        /// The evaluation's arguments with every input file made absolute (and the model
        /// resolved to its file), and those files by content.
        func resolveInputs() throws -> ([String], [LocoLLM.SlurmJob.InputFile]) {
            var arguments: [String] = []
            var paths: [String] = []
            let store = ModelStore()
            func file(_ option: String, _ value: String) throws -> String {
                switch option {
                case "--model":
                    let path = try store.resolve(value)
                    paths.append(path)
                    return path
                case "--candidates":
                    return try value.split(separator: ",").map { entry in
                        let parts = entry.split(separator: "@", maxSplits: 1).map(String.init)
                        let path = try store.resolve(parts[0])
                        paths.append(path)
                        return path + (parts.count == 2 ? "@" + parts[1] : "")
                    }.joined(separator: ",")
                case "--adapter" where value == AdapterArguments.auto:
                    return value
                case "--adapter":
                    let path = absolute(try AdapterRegistry().resolve(value))
                    paths.append(path)
                    return path
                default:
                    let path = absolute(value)
                    paths.append(path)
                    return path
                }
            }
            let options = Kind.fileOptions.union(Kind.takesModel ? ["--model"] : ["--candidates"])
            var i = 0
            while i < evalArguments.count {
                let argument = evalArguments[i]
                if let equals = argument.firstIndex(of: "="), options.contains(String(argument[..<equals])) {
                    let option = String(argument[..<equals])
                    arguments.append(option + "=" + (try file(option, String(argument[argument.index(after: equals)...]))))
                } else if options.contains(argument), i + 1 < evalArguments.count {
                    arguments += [argument, try file(argument, evalArguments[i + 1])]
                    i += 1
                } else {
                    arguments.append(argument)
                }
                i += 1
            }
            if Kind.takesModel, !arguments.contains(where: { $0 == "--model" || $0.hasPrefix("--model=") }) {
                let path = try store.resolve(nil)
                paths.append(path)
                arguments += ["--model", path]
            }
            var inputs: [LocoLLM.SlurmJob.InputFile] = []
            for path in paths where !inputs.contains(where: { $0.path == path }) {
                if FileSystem.isDirectory(path) {
                    for entry in try FileSystem.entries(path).sorted() where !FileSystem.isDirectory(path + "/" + entry) {
                        inputs.append(try .init(hashing: path + "/" + entry))
                    }
                } else {
                    inputs.append(try .init(hashing: path))
                }
            }
            return (arguments, inputs)
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The state of a job `loco slurm ... --submit` submitted: its tasks (squeue, and sacct where accounting is on) and its shards.")

        @Argument(help: "The job's folder (--out of `loco slurm`).")
        var folder: String

        func run() throws {
            do {
                let path = folder + "/slurm/job.json"
                guard FileSystem.exists(path) else {
                    throw ValidationError("\(path) is missing: no job was submitted from \(folder) (`loco slurm ... --submit`)")
                }
                let submission = try JSONDecoder().decode(LocoLLM.SlurmJob.Submission.self, from: Data(try FileSystem.read(path, limit: 1 << 20)))
                print("job array \(submission.arrayJob) (\(submission.tasks) tasks), merge job \(submission.mergeJob)")
                let jobs = "\(submission.arrayJob),\(submission.mergeJob)"
                let queue = try LocoLLM.SlurmCommand.run("squeue", ["-h", "-j", jobs, "-o", "%i %j %T %M %R"])
                let waiting = queue.output.split(separator: "\n")
                print(queue.status == 0 ? (waiting.isEmpty ? "in the queue: nothing (finished or gone)" : "in the queue:\n" + waiting.map { "  " + $0 }.joined(separator: "\n"))
                      : "squeue: \(queue.error)")
                let accounting = try LocoLLM.SlurmCommand.run("sacct", ["-n", "-P", "-X", "-j", jobs, "-o", "JobID,JobName,State,Elapsed,ExitCode"])
                if accounting.status == 0 {
                    print("accounting:\n" + accounting.output.split(separator: "\n").map { "  " + $0.replacingOccurrences(of: "|", with: " ") }.joined(separator: "\n"))
                } else {
                    print("sacct: \(accounting.error.isEmpty ? "failed" : accounting.error) (the shards below still say what finished)")
                }
                var finished = 0
                for index in 0..<submission.tasks {
                    let shard = "\(folder)/shards/\(index)"
                    let manifest = try? ShardManifest.read(from: shard)
                    let state = manifest.map { $0.complete ? "finished" : "running or stopped (\($0.owned.count) units)" } ?? "not started"
                    if manifest?.complete == true { finished += 1 }
                    print("  shard \(index)/\(submission.tasks): \(state)")
                }
                let merged = ["results.json", "selection.json"].contains { FileSystem.exists(folder + "/" + $0) }
                print("\(finished) of \(submission.tasks) shards finished; merged results \(merged ? "in \(folder)" : "not yet written")")
            } catch let error as ValidationError {
                throw fail(error.message)
            } catch {
                throw fail(error)
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that this node sees the input files a Slurm job was written for (size and SHA-256); each task runs it first.",
            shouldDisplay: false)

        @Argument(help: "The job's DIR/slurm/inputs.json.")
        var manifest: String

        func run() throws {
            do { try LocoLLM.SlurmJob.verify(manifest: manifest) } catch { throw fail(error) }
        }
    }
}

/// `path` made absolute against the working directory.
func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    let joined = FileManager.default.currentDirectoryPath + "/" + path
    return FileSystem.canonicalPath(joined) ?? (joined as NSString).standardizingPath
}
