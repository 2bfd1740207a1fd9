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

    /// A number as typed: `-1`, not `-1.0`, so a message quotes the value the user gave.
    static func number(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Refuses names no interface can have, before they are looked up or recorded.
    static func validateInterfaces(_ names: [String]) throws {
        for name in names {
            do { try InterfaceName.validate(name) } catch { throw ValidationError("\(error)") }
        }
    }
}

/// Options that choose and locate feature modules (build, run, load, replay, features).
struct FeatureOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Feature modules, comma-separated. 'base' is always on; 'ipv4' and 'ipv6' are on unless excluded with '-ipv4'/'-ipv6'; 'all' selects every module; NAME:PARAM=VALUE sets a module parameter (splt:n=20).",
        valueName: "list"))
    var features: String = ""

    @Option(name: .customLong("feature-path"), help: ArgumentHelp("Also load feature modules from DIR (repeatable).", valueName: "dir"))
    var featurePaths: [String] = []

    @Flag(name: .customLong("allow-unsafe-feature-path"), help: "Accept a feature path that users other than its owner can write to.")
    var allowUnsafeFeaturePath = false

    @Option(name: .customLong("verifier-log"), help: ArgumentHelp(
        "When the kernel verifier refuses the program, write its whole log to FILE (mode 0600).", valueName: "file"))
    var verifierLog: String?

    mutating func validate() throws {
        try CommandLineText.refuseControlCharacters([features], option: "--features")
        try CommandLineText.refuseControlCharacters([verifierLog], option: "--verifier-log")
        try CommandLineText.refuseControlCharacters(featurePaths, option: "--feature-path")
        // the list is recorded in instance state and compared on adoption: one spelling per selection
        features = try FeatureList.normalized(features)
    }

    /// The catalog of available modules.
    func catalog() throws -> FeatureCatalog {
        try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: featurePaths, allowUnsafe: allowUnsafeFeaturePath)
    }

    /// The plan of the selected features (or of `selection`) in `catalog`; an unknown name is
    /// answered with the closest existing one.
    func plan(in catalog: FeatureCatalog, selection: String? = nil, maxFlows: Int = Planner.defaultMaxFlows) throws -> Plan {
        try FeatureList.plan(selection ?? features, in: catalog, maxFlows: maxFlows)
    }
}

/// The flow table's capacity and how the pipeline may be split into stages (build, run, load,
/// replay): a group of its own so commands that plan nothing for the kernel do not offer them.
struct PlanOptions: ParsableArguments {
    @Option(name: .customLong("max-flows"), parsing: .unconditional, help: ArgumentHelp("Flow table capacity (directions).", valueName: "n"))
    var maxFlows: Int = Planner.defaultMaxFlows

    @Option(name: .customLong("max-stages"), parsing: .unconditional, help: ArgumentHelp("Most programs the pipeline may be split into with tail calls; 1 refuses to split.", valueName: "n"))
    var maxStages: Int = StagePolicy().maxStages

    @Option(name: .customLong("stage-budget"), parsing: .unconditional, help: ArgumentHelp("Verified-instruction budget of one stage (the kernel allows 1000000).", valueName: "insns"))
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
