import FlowgenCore
import FlowgenKernel
import FlowgenTestSupport

/// What `flowgen bench` runs and how long: sections, repetition counts, sizes and tools.
///
/// The two profiles differ only in how much they repeat and how big the synthetic inputs are;
/// every figure is measured the same way in both.
public struct BenchOptions: Sendable {
    /// Sections to run, in `BenchSection` order.
    public var sections: [BenchSection] = BenchSection.allCases
    /// True for the short profile (the whole suite in about a minute).
    public var quick = false
    /// Where templates, `Templates/bench/` and the built-in feature modules are.
    public var resources: ResourceLocator
    /// Extra feature-module directories (`--feature-path`).
    public var featurePaths: [String] = []
    /// Accept feature paths writable by others.
    public var allowUnsafeFeaturePath = false
    /// The clang driver and object cache used for flowgen's programs and the floors alike.
    public var compiler: ClangCompiler
    /// When set, the kernel section measures base and base+each of these modules only (`--only modules`):
    /// the per-module rows without the presets and combinations, in either profile.
    public var modules: [String]? = nil
    /// The `flowgen` binary, for the build and replay sections (nil: those parts that spawn it are skipped).
    public var flowgenExecutable: String?

    /// Timed repetitions of each kernel measurement (the median is reported).
    public var kernelRepetitions = 7
    /// BPF_PROG_TEST_RUN repeat count on the existing-flow path.
    public var existingFlowRepeat: UInt32 = 1_000_000
    /// Distinct new flows per timed new-flow run (the map is emptied between runs).
    public var newFlowBatch: UInt32 = 65_536
    /// Timed repetitions of each new-flow measurement.
    public var newFlowRepetitions = 5
    /// Seconds each end-to-end rate is measured over.
    public var e2eSeconds = 2.0
    /// Rounds of the end-to-end matrix (the median is reported).
    public var e2eRepetitions = 5
    /// Distinct flows of the "many flows" end-to-end run.
    public var e2eManyFlows = 10_000
    /// Flow directions the collector benchmark puts in the kernel map.
    public var collectorDirections = 1_000_000
    /// Runs per build measurement.
    public var buildRepetitions = 5
    /// Packets of the replay capture.
    public var replayPackets = 1_000_000
    /// Flows of the replay capture.
    public var replayFlows = 50_000

    /// The full profile.
    public init(resources: ResourceLocator, compiler: ClangCompiler) {
        self.resources = resources
        self.compiler = compiler
    }

    /// Switches to the short profile: fewer repetitions and smaller inputs, same methods.
    public mutating func useQuickProfile() {
        quick = true
        kernelRepetitions = 3
        existingFlowRepeat = 200_000
        newFlowBatch = 16_384
        newFlowRepetitions = 3
        e2eSeconds = 0.8
        e2eRepetitions = 1
        collectorDirections = 200_000
        buildRepetitions = 3
        replayPackets = 100_000
        replayFlows = 5_000
    }

    /// Directory of the benchmark's own C sources and preset list.
    public var benchTemplates: String { resources.templates + "/bench" }
}
