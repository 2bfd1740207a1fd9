import FlowgenCore

/// Measures a plan's per-module verified instructions (`ModuleCostReport`) by verifying the plan
/// and its variants without each module. Every variant goes through the compile cache and the
/// remembered verdicts of `flowgen build`, so a second measurement of the same selection on the same
/// kernel loads nothing.
public struct ModuleCostMeasurer {
    /// The build of the whole selection; each variant is built the same way (templates, compiler,
    /// cache, stage policy) with its own plan.
    public let builder: MonitorBuilder
    /// The plan to measure.
    public var plan: Plan { builder.plan }

    /// Creates a measurer for the selection `builder` builds.
    public init(builder: MonitorBuilder) {
        self.builder = builder
    }

    /// The report with every figure; needs root (CAP_BPF) for the variants not verified before.
    /// `progress` gets "verifying 2 of 5: without tcp" before each variant that must be loaded.
    public func measure(progress: (String) -> Void = { _ in }) throws -> ModuleCostReport {
        var report = ModuleCostReport(plan: plan)
        let variants = try ModuleCostReport.measurementPlans(of: plan)
        var totals: [String?: Int] = [:]
        var pending: [(key: String?, plan: Plan)] = []
        for variant in variants {
            if let total = try rememberedTotal(variant.plan) { totals[variant.key] = total } else { pending.append(variant) }
        }
        for (index, variant) in pending.enumerated() {
            let what = variant.key.map { $0 == ModuleCostReport.alwaysKey ? "the always-on modules alone" : "without \($0)" } ?? "the whole selection"
            progress("verifying \(index + 1) of \(pending.count): \(what)")
            totals[variant.key] = try verifiedTotal(variant.plan)
        }
        report.attribute(totals: totals)
        return report
    }

    /// The summed `verified_insns` of a build of `plan` this kernel verified before, or nil.
    func rememberedTotal(_ plan: Plan) throws -> Int? {
        guard let earlier = try builder(plan).verifiedEarlier() else { return nil }
        return Self.total(earlier.plan)
    }

    /// Loads `plan` (splitting it as `build` would), sums its stages' `verified_insns` and unloads it;
    /// the verdict is remembered for the next measurement.
    /// Nil when the kernel does not report the count (before Linux 5.16): the figures it feeds stay empty.
    func verifiedTotal(_ plan: Plan) throws -> Int? {
        Self.total(try builder(plan).load().plan)
    }

    func builder(_ plan: Plan) -> MonitorBuilder {
        MonitorBuilder(plan: plan, resources: builder.resources, compiler: builder.compiler, stages: builder.stages)
    }

    /// Verified instructions of every stage, summed; nil when a stage has none.
    static func total(_ plan: Plan) -> Int? {
        let counts = plan.stages.compactMap(\.verifiedInstructions)
        return counts.count == plan.stages.count ? counts.reduce(0, +) : nil
    }
}
