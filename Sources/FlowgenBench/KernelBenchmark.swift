import FlowgenCore
import FlowgenKernel
import FlowgenTestSupport

/// Section 1: kernel-reported ns per packet with BPF_PROG_TEST_RUN for the floors and every feature
/// set, on the existing-flow and the new-flow path, for each packet class.
///
/// All programs are loaded before timing starts and measured round-robin (one repetition of each
/// program, then the next repetition), so a noisy moment hits every program alike and the ratios,
/// which compare figures of the same run, stay meaningful.
public final class KernelBenchmark {
    let context: BenchContext

    /// Creates the section.
    public init(context: BenchContext) {
        self.context = context
    }

    /// Loads everything, times both paths and returns the figures.
    public func run() throws -> KernelBenchResult {
        let options = context.options
        let maxFlows = Swift.max(Planner.defaultMaxFlows, Int(options.newFlowBatch) * 2)
        context.log("kernel: compiling and loading the floors and the new-flow driver")
        let returnOnly = try context.floors.returnOnly()
        let minimal = try context.floors.minimal(maxFlows: maxFlows)
        let driver = try context.floors.newFlowDriver()

        var rows: [KernelBenchResult.Row] = []
        var programs: [BenchProgram] = [returnOnly, minimal]
        var rowOf: [Int] = []  // programs[i + 2] belongs to rows[rowOf[i]]
        var stampBaseline: Int?  // the stamp driver pointed at return-only: its cost is taken off the stamped programs'
        var stamped: Set<Int> = []  // programs reached through a stamp driver
        /// A program measured to explain a cost, not against a target.
        func appendDiagnostic(_ program: BenchProgram, selection: String?, features: [String]) {
            programs.append(program)
            rowOf.append(rows.count)
            rows.append(.init(label: program.label, kind: "diagnostic", selection: selection, features: features, unavailable: nil,
                              verifiedInstructions: program.verifiedInstructions, jitedBytes: program.jitedBytes,
                              existingFlow: [], newFlow: [], existingFlowTarget: nil, newFlowTarget: nil))
        }
        for program in [returnOnly, minimal] {
            rows.append(.init(label: program.label, kind: "floor", selection: nil, features: [], unavailable: nil,
                              verifiedInstructions: program.verifiedInstructions, jitedBytes: program.jitedBytes,
                              existingFlow: [], newFlow: [], existingFlowTarget: nil, newFlowTarget: nil))
        }
        for set in context.featureSets {
            var row = KernelBenchResult.Row(label: set.label, kind: set.kind.rawValue, selection: set.selection, features: [],
                                            unavailable: nil, verifiedInstructions: [], jitedBytes: 0, existingFlow: [], newFlow: [],
                                            existingFlowTarget: set.preset?.existingFlowTarget, newFlowTarget: set.preset?.newFlowTarget)
            guard set.selection != nil else {
                row.unavailable = "not available (neither --features \(set.preset?.selection ?? set.label) nor its modules resolve)"
                rows.append(row)
                continue
            }
            var loaded: BenchProgram?
            do {
                context.log("kernel: building \(set.label) (--features '\(set.selection!)')")
                let program = try context.loadMonitor(set, maxFlows: maxFlows)
                row.features = program.plan?.features.map(\.name) ?? []
                row.verifiedInstructions = program.verifiedInstructions
                row.jitedBytes = program.jitedBytes
                programs.append(program)
                rowOf.append(rows.count)
                loaded = program
            } catch {
                row.unavailable = "failed to build: \(error)"
            }
            rows.append(row)
            if let plan = loaded?.plan, set.preset?.existingFlowTarget != nil || set.preset?.newFlowTarget != nil {
                // A preset with targets gets its floor twin (the minimal program with the preset's record
                // size and clock), so a missed target can be told apart from what any program storing
                // such a record with such a clock would cost here.
                let twin = try context.floors.minimalTwin(of: set.label, maxFlows: maxFlows, recordBytes: plan.layout.size,
                                                           preciseClock: plan.defines.contains("FG_PRECISE_TIME"))
                rows[rows.count - 1].floorTwin = twin.label
                appendDiagnostic(twin, selection: nil, features: [])
                // and the same twin keeping one entry per biflow: what that layout would cost per packet
                appendDiagnostic(try context.floors.minimalBiflowTwin(of: set.label, maxFlows: maxFlows, recordBytes: plan.layout.size,
                                                                      preciseClock: plan.defines.contains("FG_PRECISE_TIME")),
                                 selection: nil, features: [])
                if plan.defines.contains("FG_PRECISE_TIME") {
                    // The preset again, its packets carrying a CLOCK_MONOTONIC skb->tstamp as TCP's do,
                    // which the precise clock takes instead of the helper (each on a monitor of its
                    // own, so their stamps never meet the helper's times in one record): 1 µs apart
                    // (a busy flow: a new time on every packet, a new ms on every 1,000th, as the rows
                    // above), and 1 ms apart (every packet opens a new ms: inter-arrival gaps and the
                    // reverse lookup on each).
                    if stampBaseline == nil {
                        stampBaseline = programs.count
                        appendDiagnostic(try context.floors.stamped(returnOnly, label: "stamp driver → return-only", stepNanoseconds: 0),
                                         selection: nil, features: [])
                    }
                    for (suffix, step) in [("mono stamps 1 µs apart", 1_000), ("mono stamps 1 ms apart", 1_000_000)] {
                        let own = try context.loadMonitor(set, maxFlows: maxFlows)
                        stamped.insert(programs.count)
                        appendDiagnostic(try context.floors.stamped(own, label: "\(set.label) [\(suffix)]", stepNanoseconds: step),
                                         selection: set.selection, features: row.features)
                    }
                }
            }
            if set.kind == .preset && set.selection == "" {
                // Diagnostic twin of base: the same program with the replay clock (skb->tstamp instead of
                // bpf_ktime_get_ns), so the report can say what the clock read costs on this machine.
                let plan = try context.catalog.plan(features: "", maxFlows: maxFlows)
                let monitor = try MonitorBuilder(plan: plan, resources: options.resources, compiler: options.compiler).load(replay: true)
                appendDiagnostic(try BenchProgram(label: "\(set.label) [replay clock]", monitor: monitor),
                                 selection: "", features: plan.features.map(\.name))
            }
        }
        func rowIndex(_ programIndex: Int) -> Int { programIndex < 2 ? programIndex : rowOf[programIndex - 2] }

        var overhead: [String: Double] = [:]
        for traffic in BenchTraffic.allCases {
            let frame = traffic.frame
            context.log("kernel: \(traffic.rawValue), existing flow")
            // Warm-up creates the flow (so the timed runs take the existing-flow path) and tells which
            // programs track this packet class at all.
            var tracked: [Bool] = []
            for program in programs {
                try program.clearFlows()
                _ = try program.run(frame, repetitions: 1000)
                let count = try program.flowCount()
                tracked.append(program.flowTable == nil || count > 0)
            }
            var existing = [[Double]](repeating: [], count: programs.count)
            for _ in 0..<options.kernelRepetitions {
                for (i, program) in programs.enumerated() where tracked[i] {
                    existing[i].append(Double(try program.run(frame, repetitions: options.existingFlowRepeat).durationNanoseconds))
                }
            }
            for program in programs { try program.clearFlows() }
            Self.subtractDriver(of: stamped, baseline: stampBaseline, floor: 0, from: &existing)

            context.log("kernel: \(traffic.rawValue), new flow")
            var fresh = [[Double]](repeating: [], count: programs.count)
            for _ in 0..<options.newFlowRepetitions {
                for (i, program) in programs.enumerated() where tracked[i] {
                    fresh[i].append(try driver.measure(program, frame: frame, repetitions: options.newFlowBatch))
                }
            }

            Self.subtractDriver(of: stamped, baseline: stampBaseline, floor: 0, from: &fresh)
            // Ratios are medians of per-round ratios: each round measures every program within a few
            // hundred milliseconds, so a program and the floor it is divided by share the machine's
            // state of that moment, which a ratio of two medians taken minutes apart would not.
            func pairedMedian(_ values: (Int) -> Double?) -> Double? {
                let ratios = (0..<Swift.max(existing[0].count, fresh[0].count)).compactMap(values)
                return ratios.isEmpty ? nil : BenchSamples(ratios).median
            }
            let driverCost = BenchSamples(fresh[0]).median
            overhead[traffic.rawValue] = driverCost
            for i in programs.indices {
                let isFloor = i < 2
                let e = BenchSamples(existing[i]).median
                let ratio = tracked[i] && !isFloor ? pairedMedian { r in
                    r < existing[i].count ? existing[i][r] / existing[1][r] : nil
                } : nil
                let net = tracked[i] && !isFloor ? pairedMedian { r in
                    r < existing[i].count ? (existing[i][r] - existing[0][r]) / Swift.max(existing[1][r] - existing[0][r], 0.1) : nil
                } : nil
                rows[rowIndex(i)].existingFlow.append(.init(
                    traffic: traffic.rawValue, tracked: tracked[i], samples: BenchSamples(existing[i]), nsPerPacket: e,
                    ratioToMinimal: ratio, netRatioToMinimal: net))
                let n = BenchSamples(fresh[i].enumerated().map { $1 - fresh[0][$0] }).median
                let newRatio = tracked[i] && !isFloor ? pairedMedian { r in
                    r < fresh[i].count ? (fresh[i][r] - fresh[0][r]) / Swift.max(fresh[1][r] - fresh[0][r], 0.1) : nil
                } : nil
                rows[rowIndex(i)].newFlow.append(.init(
                    traffic: traffic.rawValue, tracked: tracked[i] && i != 0, samples: BenchSamples(fresh[i]), nsPerPacket: n,
                    ratioToMinimal: newRatio, netRatioToMinimal: nil))
            }
        }
        for program in programs { try program.clearFlows() }
        let method = KernelBenchResult.Method(
            existingFlowRepeat: options.existingFlowRepeat, existingFlowRepetitions: options.kernelRepetitions,
            newFlowBatch: options.newFlowBatch, newFlowRepetitions: options.newFlowRepetitions,
            maxFlows: maxFlows, newFlowDriverOverhead: overhead)
        return KernelBenchResult(method: method, rows: rows)
    }

    /// Takes a driver's own cost off the programs run through it, round by round: what the driver
    /// pointed at return-only (`baseline`) costs over `floor` (return-only itself; new flow: the
    /// new-flow driver pointed at return-only) in the same round. The samples then read as the
    /// program's own, as if the test run had handed it the stamped skb.
    static func subtractDriver(of driven: Set<Int>, baseline: Int?, floor: Int, from samples: inout [[Double]]) {
        guard let baseline else { return }
        for i in driven {
            for r in samples[i].indices where r < samples[baseline].count && r < samples[floor].count {
                samples[i][r] -= samples[baseline][r] - samples[floor][r]
            }
        }
    }
}
