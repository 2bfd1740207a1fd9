import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// What every section shares: options, the feature catalog, the preset list, the floor builder and
/// the progress log (stderr, so the table on stdout stays clean).
public final class BenchContext {
    /// The run's options.
    public let options: BenchOptions
    /// Built-in and `--feature-path` modules.
    public let catalog: FeatureCatalog
    /// `Templates/bench/presets.json`.
    public let presets: BenchPreset.File
    /// Compiles and loads the floors and the new-flow driver.
    public let floors: FloorBuilder
    /// Progress messages.
    public let log: (String) -> Void

    /// Loads the catalog and the preset list.
    public init(options: BenchOptions, log: @escaping (String) -> Void) throws {
        self.options = options
        self.log = log
        catalog = try FeatureCatalog(resources: options.resources, userPaths: options.featurePaths,
                                     allowUnsafe: options.allowUnsafeFeaturePath)
        presets = try BenchPreset.load(directory: options.benchTemplates)
        floors = FloorBuilder(compiler: options.compiler, directory: options.benchTemplates)
    }

    /// Every feature set of the kernel section; the quick profile keeps the presets that have targets,
    /// because building and verifying every module (some of them hundreds of thousands of verified
    /// instructions) takes longer than the minute the quick profile has.
    public var featureSets: [BenchFeatureSet] {
        if let modules = options.modules { return ModuleOverBase.sets(modules, catalog: catalog, presets: presets) }
        return options.quick ? presetSets : BenchFeatureSet.all(catalog: catalog, presets: presets)
    }

    /// The presets alone (base, seed, all, ...); in the quick profile only those with targets.
    public var presetSets: [BenchFeatureSet] {
        let all = BenchFeatureSet.presets(catalog: catalog, presets: presets)
        guard options.quick else { return all }
        return all.filter { set in
            guard let p = set.preset else { return false }
            return p.existingFlowTarget != nil || p.newFlowTarget != nil || p.keepOneFlowTarget != nil || p.keepManyFlowsTarget != nil
        }
    }

    /// Plans, compiles (through the cache) and loads a set as `flowgen run` would: live time source,
    /// `maxFlows` directions.
    public func loadMonitor(_ set: BenchFeatureSet, maxFlows: Int = Planner.defaultMaxFlows) throws -> BenchProgram {
        guard let selection = set.selection else { throw BenchError.badFile("feature set \(set.label)", "not available") }
        let plan = try catalog.plan(features: selection, maxFlows: maxFlows)
        let monitor = try MonitorBuilder(plan: plan, resources: options.resources, compiler: options.compiler).load(replay: false)
        return try BenchProgram(label: set.label, monitor: monitor)
    }
}
