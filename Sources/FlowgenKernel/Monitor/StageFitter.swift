import Logging
import Foundation
import FlowgenCore

/// Limits on how a feature set may be spread over tail-called stages.
public struct StagePolicy: Sendable, Equatable {
    /// The kernel's own limit on instructions the verifier processes per program.
    public static let kernelLimit = 1_000_000

    /// Most programs in the pipeline; 1 refuses to split.
    public var maxStages: Int
    /// Verified-instruction budget of one stage.
    public var budget: Int

    /// Creates a policy.
    public init(maxStages: Int = 8, budget: Int = StagePolicy.kernelLimit) {
        self.maxStages = maxStages
        self.budget = budget
    }
}

/// Finds a pipeline that loads: the plan as one program if the verifier accepts it within the
/// budget, otherwise its heaviest features moved into tail-called stages, guided by each feature's
/// standalone verified-instruction count. The split found is remembered in the cache, so the next
/// build loads it directly.
public struct StageFitter {
    /// The unsplit plan.
    public let plan: Plan
    /// Stage limits.
    public let policy: StagePolicy
    let resources: ResourceLocator
    let compiler: ClangCompiler
    let log: Logger

    /// Creates a fitter.
    public init(plan: Plan, policy: StagePolicy, resources: ResourceLocator, compiler: ClangCompiler,
                log: Logger = .silent) {
        self.plan = plan
        self.policy = policy
        self.resources = resources
        self.compiler = compiler
        self.log = log
    }

    /// Loads the pipeline, splitting it as needed.
    public func load(replay: Bool, verbose: Bool) throws -> LoadedMonitor {
        let key = try cacheKey()
        if let groups = readRecord(key)?.groups, let split = try? Planner().split(plan, into: groups),
           let monitor = try? attempt(split, replay: replay, verbose: verbose).get() {
            if !replay { remember(key, monitor.plan, replay: replay) } // this kernel's counts, for the next build
            return monitor
        }
        let single = try attempt(plan, replay: replay, verbose: verbose)
        var reason: String
        switch single {
        case let .success(monitor):
            remember(key, monitor.plan, replay: replay)
            return monitor
        case let .failure(failure):
            reason = failure.description
            guard policy.maxStages > 1 else {
                let log = failure.logTail.isEmpty ? "" : "\nend of the verifier log:\n" + failure.logTail
                throw MonitorError.doesNotFit(reason: reason, hint: "allow tail-called stages with --max-stages N (N > 1), raise --stage-budget, or select fewer features" + log)
            }
        }
        log.debug("one program does not fit (\(reason)); measuring features to split them into stages")
        let (fixed, costs) = try measure(replay: replay)
        guard !costs.isEmpty else {
            throw MonitorError.doesNotFit(reason: reason, hint: "no feature can move to a later stage; select fewer features")
        }
        // Light features stay in the entry program (no tail call for them); heavy ones are spread
        // over tail-called stages, heaviest first onto the lightest stage. When the entry program
        // still does not fit, its heaviest remaining feature moves out and the search goes on.
        let light = max(1, policy.budget / 50)
        var inEntry = costs.filter { $0.value < light }.map(\.key)
        var attempts = 0
        var tried = Set<[[String]]>()
        while attempts < 4 * policy.maxStages {
            let heavy = costs.filter { !inEntry.contains($0.key) }
            let total = heavy.values.reduce(0, +)
            let minimum = min(policy.maxStages, max(2, 1 + (total + policy.budget - 1) / max(1, policy.budget * 6 / 10)))
            var movedOut = false
            for count in minimum...max(minimum, policy.maxStages) {
                let later = Self.balance(costs: heavy, stages: count - 1)
                // more stages than heavy features gives the same split again: nothing new to learn
                guard tried.insert([fixed + inEntry] + later).inserted else { continue }
                attempts += 1
                let split = try Planner().split(plan, into: [fixed + inEntry] + later)
                switch try attempt(split, replay: replay, verbose: verbose) {
                case let .success(monitor):
                    log.debug("\("split into \(monitor.plan.stages.count) stages: " + monitor.plan.stages.map { "\($0.program) [\($0.features.joined(separator: ","))] \($0.verifiedInstructions ?? 0) insns" }.joined(separator: "; "))")
                    remember(key, monitor.plan, replay: replay)
                    return monitor
                case let .failure(failure):
                    reason = failure.description
                    log.debug("\(count) stages do not fit: \(reason)")
                    if failure.program == Planner.entryProgram, let heaviest = inEntry.max(by: { costs[$0]! < costs[$1]! }) {
                        inEntry.removeAll { $0 == heaviest }
                        movedOut = true
                    }
                }
                if movedOut { break }
            }
            if !movedOut { break }
        }
        throw MonitorError.doesNotFit(reason: reason, hint: "raise --max-stages (now \(policy.maxStages)) or --stage-budget, or select fewer features")
    }

    /// Why one attempt failed, short.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// The program that failed, if known.
        var program: String?
        /// The end of the verifier log, when the verifier gave one.
        var logTail = ""
    }

    /// Compiles and loads `candidate`; fails on verifier rejection or a stage over the budget.
    /// Other errors (a compile error in a module, no privileges) are thrown: splitting cannot help.
    func attempt(_ candidate: Plan, replay: Bool, verbose: Bool) throws -> Result<LoadedMonitor, Failure> {
        do {
            let source = try CodeGenerator(resources: resources).generate(candidate)
            let object = try compiler.compile(source, version: FlowgenVersion.string)
            let monitor = try LoadedMonitor(plan: candidate, object: object, replay: replay, verbose: verbose)
            for stage in monitor.plan.stages {
                if let n = stage.verifiedInstructions, n > policy.budget {
                    return .failure(Failure(description: "\(stage.program) verified \(n) instructions, over the stage budget of \(policy.budget)", program: stage.program))
                }
            }
            return .success(monitor)
        } catch let KernelError.verifierRejected(program, log, _, _) where Self.isComplexityLimit(log) {
            let tail = log.split(separator: "\n").suffix(25).joined(separator: "\n")
            return .failure(Failure(description: "the verifier rejected \(program): \(KernelError.verifierSummary(log))", program: program, logTail: tail))
        } catch let KernelError.loadFailed(_, code, log) {
            return .failure(Failure(description: "loading failed: \(KernelError.errnoDescription(code)) \(KernelError.verifierSummary(log))"))
        }
    }

    /// Cost of every movable feature: the verified instructions of a tail-called stage that runs
    /// it (with what it requires) alone. Fixed modules (base, and those without per-packet code,
    /// which only shape parsing) stay in the entry program.
    func measure(replay: Bool) throws -> (fixed: [String], costs: [String: Int]) {
        let fixed = plan.features.filter { $0.always || !CodeGenerator.hasUpdates($0) }.map(\.name)
        let byName = Dictionary(uniqueKeysWithValues: plan.features.map { ($0.name, $0) })
        var costs: [String: Int] = [:]
        for module in plan.features where !fixed.contains(module.name) {
            var group: [String] = []
            func visit(_ n: String) {
                guard !group.contains(n), !fixed.contains(n), let m = byName[n] else { return }
                m.requires.forEach(visit)
                group.append(n)
            }
            visit(module.name)
            let modules = plan.features.filter { fixed.contains($0.name) || group.contains($0.name) }
            var cost = policy.budget // too heavy even alone: it gets a stage of its own
            if let sub = try? Planner().plan(FeatureSelection(modules: modules), maxFlows: plan.maxFlows),
               let split = try? Planner().split(sub, into: [fixed, group]),
               case let .success(m)? = try? attempt(split, replay: replay, verbose: false),
               let n = m.plan.stages.last?.verifiedInstructions {
                cost = n
            }
            costs[module.name] = max(1, cost)
            log.debug("feature \(module.name): \(costs[module.name]!) verified instructions as a stage of its own")
        }
        return (fixed, costs)
    }

    /// Heaviest first onto the least-loaded stage (LPT), which keeps the heaviest stage as light
    /// as a greedy split can; stages come out lightest first, so the heaviest runs last. That is
    /// measured, not taste: the dispatch code after a stage is verified once per state the stage
    /// leaves, and after the dns stage (423k instructions alone) it overflowed the verifier's
    /// 1M budget, while the same stage placed last loaded.
    static func balance(costs: [String: Int], stages: Int) -> [[String]] {
        var groups = [[String]](repeating: [], count: max(1, stages))
        var load = [Int](repeating: 0, count: groups.count)
        let heaviestFirst = costs.sorted { a, b in a.value != b.value ? a.value > b.value : a.key < b.key }
        for (name, c) in heaviestFirst {
            var i = 0
            for j in load.indices where load[j] < load[i] { i = j }
            groups[i].append(name)
            load[i] += c
        }
        return groups.indices.sorted { load[$0] < load[$1] }.map { groups[$0] }.filter { !$0.isEmpty }
    }

    /// Whether a verifier log ends on a size or complexity limit (which splitting can cure), as
    /// opposed to an unsafe access (which it cannot: that error goes to the user as it is).
    static func isComplexityLimit(_ log: String) -> Bool {
        let summary = KernelError.verifierSummary(log).lowercased()
        let tail = log.split(separator: "\n").suffix(5).joined(separator: "\n").lowercased()
        return ["too large", "too complex", "processed 1000001", "combined stack size", "stack depth",
                "jump out of range", "too many states", "e2big"].contains { summary.contains($0) || tail.contains($0) }
    }

    // MARK: remembered splits

    func cacheKey() throws -> String {
        let source = try CodeGenerator(resources: resources).generate(plan)
        var hash = SHA256()
        for name in source.files.keys.sorted() {
            hash.update(name)
            hash.update(source.files[name]!)
        }
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        hash.update("stage-fitter-v2 \(policy.maxStages) \(policy.budget) \(release) \(FlowgenVersion.string)")
        return hash.finalizeHex()
    }

    var rememberedDirectory: String { compiler.cacheDirectory + "/stage-plans" }

    /// What a successful load leaves in the cache: the split, and (for a load outside replay mode)
    /// the kernel that verified it and each stage's `verified_insns`.
    struct Remembered: Codable {
        var groups: [[String]]
        var verified: [Int]?
        var kernel: String?
        var replay: Bool?
    }

    /// This kernel build (release and version string): the verifier's verdict on an object holds
    /// for it and may not for another.
    static var kernelIdentity: String {
        var uts = utsname()
        uname(&uts)
        func text<T>(_ field: inout T) -> String {
            withUnsafeBytes(of: &field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return text(&uts.release) + " " + text(&uts.version)
    }

    func readRecord(_ key: String) -> Remembered? {
        guard (try? compiler.prepareCacheDirectory()) != nil,
              let data = FileManager.default.contents(atPath: rememberedDirectory + "/\(key).json") else { return nil }
        if let record = try? JSONDecoder().decode(Remembered.self, from: data) { return record }
        return (try? JSONDecoder().decode([[String]].self, from: data)).map { Remembered(groups: $0) } // before verified counts were kept
    }

    func remember(_ key: String, _ plan: Plan, replay: Bool) {
        let verified = plan.stages.compactMap(\.verifiedInstructions)
        let record = Remembered(groups: plan.stages.map(\.features), verified: verified.count == plan.stages.count ? verified : nil,
                                kernel: Self.kernelIdentity, replay: replay)
        guard let data = try? JSONEncoder().encode(record) else { return }
        try? ClangCompiler.makeDirectory(rememberedDirectory)
        try? ClangCompiler.writeAtomically(data, to: rememberedDirectory + "/\(key).json")
    }

    /// The plan (with its stages' `verified_insns`) and object of a build this kernel verified before,
    /// without loading it again: the same object bytes on the same kernel build get the same verdict.
    /// Nil when there is no such record, or the object is no longer in the cache.
    public func verifiedEarlier() throws -> (plan: Plan, object: CompiledObject)? {
        guard let record = readRecord(try cacheKey()), record.replay == false, record.kernel == Self.kernelIdentity,
              let verified = record.verified, verified.count == record.groups.count, verified.allSatisfy({ $0 <= policy.budget }),
              var split = try? Planner().split(plan, into: record.groups), split.stages.count == verified.count else { return nil }
        for i in split.stages.indices { split.stages[i].verifiedInstructions = verified[i] }
        let source = try CodeGenerator(resources: resources).generate(split)
        // only an object still in the cache was the one verified: a fresh compile is loaded again
        guard let object = try compiler.cachedObject(source, version: FlowgenVersion.string) else { return nil }
        return (split, object)
    }
}
