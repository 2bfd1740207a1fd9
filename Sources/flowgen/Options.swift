import ArgumentParser
import FlowgenCore
import FlowgenKernel

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
}

/// Verbosity flags.
struct LogOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print only errors.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Print progress details and libbpf's own messages.")
    var verbose = false
}
