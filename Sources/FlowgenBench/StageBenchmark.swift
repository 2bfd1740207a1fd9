import CLibBPF
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// Section 1, stages: what tail-called stages cost, per stage and per tail call (issue 5).
///
/// For a split pipeline the prog array is filled one slot at a time: with slots 1…i filled the
/// packet runs the entry and stages 1…i (the call to stage i+1 fails and is counted), so the time
/// added by filling slot i is what stage i costs, its tail call and the hand-over of the parsed
/// packet included. The per-tail-call figure compares `seed` as one program with the same modules
/// split over three programs. Configurations are timed round-robin, ratios within one round.
public final class StageBenchmark {
    let context: BenchContext
    /// seed's modules moved to later stages for the tail-call comparison: two that apply to every
    /// packet class, so every class makes both tail calls.
    static let seedSplit = [["jitter"], ["pkt_len"]]

    /// Creates the section.
    public init(context: BenchContext) {
        self.context = context
    }

    /// A loaded pipeline and how to switch its stages on and off.
    struct Pipeline {
        let label: String
        let monitor: LoadedMonitor
        let program: BenchProgram
        let stageMap: Int32
        let stageFDs: [Int32]
        let features: [[String]]

        init(label: String, monitor: LoadedMonitor) throws {
            self.label = label
            self.monitor = monitor
            program = try BenchProgram(label: label, monitor: monitor)
            let stages = monitor.plan.stages
            stageMap = stages.count > 1 ? try monitor.pipeline.mapInfo("fg_stages").fd : -1
            stageFDs = try stages.dropFirst().map { try monitor.pipeline.programFD($0.program) }
            features = stages.map(\.features)
        }

        /// Leaves slots 1…`count` filled and the others empty.
        func enableStages(_ count: Int) throws {
            for (i, fd) in stageFDs.enumerated() {
                var slot = UInt32(i + 1)
                var value = UInt32(bitPattern: fd)
                let rc = i < count ? bpf_map_update_elem(stageMap, &slot, &value, 0) : bpf_map_delete_elem(stageMap, &slot)
                // libbpf returns -errno; an empty slot that is emptied again is fine
                if rc != 0 && !(i >= count && -rc == ENOENT) {
                    throw KernelError.mapOperationFailed(map: "fg_stages", operation: "setting slot \(slot)", code: -rc)
                }
            }
        }
    }

    /// Loads `all` (split as the fitter finds it), seed as one program and seed split in three, and times them.
    public func run() throws -> StageBenchResult {
        let options = context.options
        var result = StageBenchResult(perStage: [], tailCall: [])
        var pipelines: [Pipeline] = []
        if let all = context.featureSets.first(where: { $0.label == "all" }), all.selection != nil {
            context.log("stages: building all (split by the stage fitter)")
            let plan = try context.catalog.plan(features: all.selection!)
            let monitor = try MonitorBuilder(plan: plan, resources: options.resources, compiler: options.compiler).load()
            if monitor.plan.stages.count > 1 { pipelines.append(try Pipeline(label: "all", monitor: monitor)) }
        }
        let seedPlan = try context.catalog.plan(features: "seed")
        context.log("stages: building seed as one program and split in three")
        let single = try Pipeline(label: "seed, one program", monitor: try load(seedPlan))
        let split = try Pipeline(label: "seed, 3 stages", monitor: try load(try Planner().split(seedPlan, into: [[]] + Self.seedSplit)))
        // the last two are the tail-call comparison; the ones before them are measured slot by slot
        let singleIndex = pipelines.count, splitIndex = pipelines.count + 1
        pipelines += [single, split]

        for traffic in BenchTraffic.allCases {
            context.log("stages: \(traffic.rawValue)")
            let frame = traffic.frame
            // every configuration: (pipeline, stages enabled)
            var configurations: [(Int, Int)] = []
            for (p, pipeline) in pipelines.enumerated() {
                try pipeline.enableStages(pipeline.stageFDs.count)
                try pipeline.program.clearFlows()
                _ = try pipeline.program.run(frame, repetitions: 1000) // the flow exists: existing-flow path
                let counts = p >= singleIndex || pipeline.stageFDs.isEmpty ? [pipeline.stageFDs.count] : Array(0...pipeline.stageFDs.count)
                configurations += counts.map { (p, $0) }
            }
            var samples = [[Double]](repeating: [], count: configurations.count)
            for _ in 0..<options.kernelRepetitions {
                for (c, (p, enabled)) in configurations.enumerated() {
                    try pipelines[p].enableStages(enabled)
                    samples[c].append(Double(try pipelines[p].program.run(frame, repetitions: options.existingFlowRepeat).durationNanoseconds))
                }
            }
            for pipeline in pipelines {
                try pipeline.enableStages(pipeline.stageFDs.count)
                try pipeline.program.clearFlows()
            }
            func column(_ p: Int, _ enabled: Int) -> [Double] { samples[configurations.firstIndex { $0 == (p, enabled) }!] }
            // per stage, for pipelines measured slot by slot
            for (p, pipeline) in pipelines.enumerated() where p < singleIndex {
                for stage in 0...pipeline.stageFDs.count {
                    let now = column(p, stage)
                    let added = stage == 0 ? now : zip(now, column(p, stage - 1)).map { $0 - $1 }
                    result.perStage.append(.init(pipeline: pipeline.label, stage: stage, features: pipeline.features[stage],
                                                 traffic: traffic.rawValue, nsAdded: BenchSamples(added).median,
                                                 samples: BenchSamples(now)))
                }
            }
            let one = column(singleIndex, 0)
            let three = column(splitIndex, split.stageFDs.count)
            let perCall = zip(three, one).map { ($0 - $1) / Double(split.stageFDs.count) }
            result.tailCall.append(.init(traffic: traffic.rawValue, singleNs: BenchSamples(one).median, splitNs: BenchSamples(three).median,
                                         nsPerTailCall: BenchSamples(perCall).median, tailCalls: split.stageFDs.count))
        }
        return result
    }

    func load(_ plan: Plan) throws -> LoadedMonitor {
        let (_, object) = try MonitorBuilder(plan: plan, resources: context.options.resources, compiler: context.options.compiler).compile()
        return try LoadedMonitor(plan: plan, object: object)
    }
}
