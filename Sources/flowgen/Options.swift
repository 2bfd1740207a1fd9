import ArgumentParser
import FlowgenCore
import FlowgenKernel

/// Checks of command-line values that become paths, addresses or kernel names.
enum CommandLineText {
    /// Refuses a control character in any of `values` of `option` (e.g. `--log`): argv cannot carry
    /// a NUL, but an ESC or newline would reach file names, logs, state files and terminals.
    static func refuseControlCharacters(_ values: [String?], option: String) throws {
        for case let value? in values {
            if let problem = ControlCharacters.problem(in: value, what: option) { throw ValidationError(problem) }
        }
    }

    /// Refuses names no interface can have, before they are looked up or recorded.
    static func validateInterfaces(_ names: [String]) throws {
        for name in names {
            do { try InterfaceName.validate(name) } catch { throw ValidationError("\(error)") }
        }
    }
}

/// Options that choose and locate feature modules (shared by build, run and features).
struct FeatureOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Feature modules, comma-separated. 'base' is always on; 'ipv4' and 'ipv6' are on unless excluded with '-ipv4'/'-ipv6'; 'all' selects every module.",
        valueName: "list"))
    var features: String = ""

    @Option(name: .customLong("feature-path"), help: ArgumentHelp("Also load feature modules from DIR (repeatable).", valueName: "dir"))
    var featurePaths: [String] = []

    @Flag(name: .customLong("allow-unsafe-feature-path"), help: "Accept a feature path that users other than its owner can write to.")
    var allowUnsafeFeaturePath = false

    @Option(name: .customLong("max-flows"), help: ArgumentHelp("Flow table capacity (directions).", valueName: "n"))
    var maxFlows: Int = Planner.defaultMaxFlows

    @Option(name: .customLong("max-stages"), help: ArgumentHelp("Most programs the pipeline may be split into with tail calls; 1 refuses to split.", valueName: "n"))
    var maxStages: Int = StagePolicy().maxStages

    @Option(name: .customLong("stage-budget"), help: ArgumentHelp("Verified-instruction budget of one stage (the kernel allows 1000000).", valueName: "insns"))
    var stageBudget: Int = StagePolicy.kernelLimit

    /// The stage limits chosen.
    var stagePolicy: StagePolicy { StagePolicy(maxStages: maxStages, budget: stageBudget) }

    func validate() throws {
        try CommandLineText.refuseControlCharacters([features], option: "--features")
        try CommandLineText.refuseControlCharacters(featurePaths, option: "--feature-path")
        guard (1...32).contains(maxStages) else { throw ValidationError("--max-stages must be from 1 to 32, got \(maxStages)") }
        guard stageBudget >= 100 else { throw ValidationError("--stage-budget must be at least 100 instructions, got \(stageBudget)") }
        guard maxFlows >= 16, maxFlows <= 64_000_000 else {
            throw ValidationError("--max-flows must be between 16 and 64000000, got \(maxFlows)")
        }
    }

    /// The catalog of available modules.
    func catalog() throws -> FeatureCatalog {
        try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: featurePaths, allowUnsafe: allowUnsafeFeaturePath)
    }

    /// The plan for the selected features.
    func plan() throws -> Plan {
        try catalog().plan(features: features, maxFlows: maxFlows)
    }
}

/// Options of the clang driver and object cache.
struct CompilerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("clang with the BPF target (default: $FLOWGEN_CLANG, then clang on PATH).", valueName: "path"))
    var clang: String?

    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Compiled-object cache (default: $FLOWGEN_CACHE_DIR or ~/.cache/flowgen).", valueName: "dir"))
    var cacheDir: String?

    func validate() throws {
        try CommandLineText.refuseControlCharacters([clang], option: "--clang")
        try CommandLineText.refuseControlCharacters([cacheDir], option: "--cache-dir")
    }
}

/// Verbosity flags.
struct LogOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print only errors.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Print progress details and libbpf's own messages.")
    var verbose = false
}
