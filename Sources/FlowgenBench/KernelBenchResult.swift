import FlowgenKernel
import FlowgenTestSupport
/// Per-packet cost of every measured program on both paths, with ratios to the floors of the same run.
public struct KernelBenchResult: Codable, Sendable {
    /// One program × packet class × path.
    public struct Cell: Codable, Sendable {
        /// Packet class (`BenchTraffic` raw value).
        public var traffic: String
        /// False when the program does not track this packet class (e.g. IPv6 with `-ipv6`); no figures then.
        public var tracked: Bool
        /// Kernel-reported ns per packet, one value per timed repetition. New-flow samples are raw
        /// driver→program times; see `nsPerPacket` for the net figure.
        public var samples: BenchSamples
        /// Median ns per packet (new flow: net of the driver, i.e. minus the driver→return-only time of the same round).
        public var nsPerPacket: Double
        /// Median over rounds of this program's time / the minimal floor's time in the same round, for the
        /// same packet class and path (new flow: both net of the driver).
        public var ratioToMinimal: Double?
        /// The same with the return-only time of the round subtracted from both: cost above the test-run
        /// harness (existing flow only).
        public var netRatioToMinimal: Double?
    }

    /// One program.
    public struct Row: Codable, Sendable {
        /// Label ("return-only", "minimal", "base", "base+tcp", ...).
        public var label: String
        /// floor, preset, module, combination, or diagnostic (a variant that explains a cost).
        public var kind: String
        /// The `--features` value built (nil for floors and unavailable sets).
        public var selection: String?
        /// Modules in the built plan.
        public var features: [String]
        /// Why the set was not measured (not available yet, or failed to build).
        public var unavailable: String?
        /// Verified instructions per program (stage) of the object.
        public var verifiedInstructions: [Int]
        /// Bytes of JIT-compiled code of all its programs.
        public var jitedBytes: Int = 0
        /// Existing-flow path, one cell per packet class.
        public var existingFlow: [Cell]
        /// New-flow path, one cell per packet class.
        public var newFlow: [Cell]
        /// Target for the largest existing-flow ratio, if the issues set one.
        public var existingFlowTarget: Double?
        /// Target for the largest new-flow ratio, if set.
        public var newFlowTarget: Double?
        /// Label of this preset's floor twin row (the minimal program with its record size and clock).
        public var floorTwin: String? = nil

        /// Largest existing-flow ratio over the tracked packet classes.
        public var worstExistingRatio: Double? { existingFlow.compactMap(\.ratioToMinimal).max() }
        /// Largest new-flow ratio over the tracked packet classes.
        public var worstNewFlowRatio: Double? { newFlow.compactMap(\.ratioToMinimal).max() }
        /// Whether the existing-flow target is met (nil without a target or figures).
        public var existingFlowMet: Bool? { Self.met(worstExistingRatio, existingFlowTarget) }
        /// Whether the new-flow target is met.
        public var newFlowMet: Bool? { Self.met(worstNewFlowRatio, newFlowTarget) }

        static func met(_ value: Double?, _ target: Double?) -> Bool? {
            guard let value, let target else { return nil }
            return value <= target
        }
    }

    /// How the figures were taken.
    public struct Method: Codable, Sendable {
        /// Test-run repeat count on the existing-flow path.
        public var existingFlowRepeat: UInt32
        /// Timed repetitions per existing-flow figure.
        public var existingFlowRepetitions: Int
        /// New flows per timed new-flow run.
        public var newFlowBatch: UInt32
        /// Timed repetitions per new-flow figure.
        public var newFlowRepetitions: Int
        /// Flow-table capacity of every program (directions).
        public var maxFlows: Int
        /// Median ns per repetition of the driver tail-calling the return-only floor (subtracted from new-flow figures).
        public var newFlowDriverOverhead: [String: Double]
    }

    /// Method parameters.
    public var method: Method
    /// Floors first, then the feature sets.
    public var rows: [Row]

    /// Every missed target, one line each.
    public var misses: [String] {
        var out: [String] = []
        for row in rows {
            let twin = row.floorTwin.flatMap { label in rows.first { $0.label == label } }
            // "; minimal [seed's 280 B record, ns clock] alone costs 1.40x": what the record and clock take by themselves
            func twinNote(_ worst: Double?) -> String {
                guard let twin, let worst else { return "" }
                return "; \(twin.label) alone costs \(BenchFormat.ratio(worst))"
            }
            if row.existingFlowMet == false, let w = row.worstExistingRatio, let t = row.existingFlowTarget {
                out.append("kernel: \(row.label) existing flow costs \(BenchFormat.ratio(w)) the minimal program, target ≤ \(BenchFormat.ratio(t))"
                           + twinNote(twin?.worstExistingRatio))
            }
            if row.newFlowMet == false, let w = row.worstNewFlowRatio, let t = row.newFlowTarget {
                out.append("kernel: \(row.label) new flow costs \(BenchFormat.ratio(w)) the minimal program's insert, target ≤ \(BenchFormat.ratio(t))"
                           + twinNote(twin?.worstNewFlowRatio))
            }
            if row.unavailable != nil, row.existingFlowTarget != nil || row.newFlowTarget != nil {
                out.append("kernel: \(row.label) not available, its targets are unchecked")
            }
        }
        return out
    }

    /// The two tables (existing flow, new flow).
    public func render() -> String {
        var out = ""
        for newFlow in [false, true] {
            let title = newFlow
                ? "Kernel, new flow: ns/packet net of the driver (× minimal's insert, median of per-round ratios), \(method.newFlowRepetitions) runs of \(method.newFlowBatch) new flows"
                : "Kernel, existing flow: ns/packet (× minimal, median of per-round ratios), \(method.existingFlowRepetitions) runs of \(method.existingFlowRepeat)"
            var table = BenchTable(title: title, header: ["program", "insns", "JIT B"] + BenchTraffic.allCases.map(\.rawValue) + ["worst", "target", ""])
            for row in rows {
                let insns = row.verifiedInstructions.map(String.init).joined(separator: "+")
                if let why = row.unavailable {
                    table.add([row.label, "", ""] + BenchTraffic.allCases.map { _ in "n/a" })
                    table.notes.append("\(row.label): " + why.split(separator: "\n").prefix(2).joined(separator: " / "))
                    continue
                }
                let cells = newFlow ? row.newFlow : row.existingFlow
                if newFlow && row.label == "return-only" { continue }
                var line = [row.label, insns, String(row.jitedBytes)]
                for traffic in BenchTraffic.allCases {
                    guard let cell = cells.first(where: { $0.traffic == traffic.rawValue }), cell.tracked else {
                        line.append("-")
                        continue
                    }
                    let ratio = cell.ratioToMinimal.map { " (" + BenchFormat.ratio($0) + ")" } ?? ""
                    line.append(BenchFormat.ns(cell.nsPerPacket) + (row.kind == "floor" ? "" : ratio))
                }
                let worst = newFlow ? row.worstNewFlowRatio : row.worstExistingRatio
                let target = newFlow ? row.newFlowTarget : row.existingFlowTarget
                line.append(row.kind == "floor" ? "" : worst.map(BenchFormat.ratio) ?? "")
                line.append(target.map { "≤" + BenchFormat.ratio($0) } ?? "")
                line.append(BenchFormat.verdict(newFlow ? row.newFlowMet : row.existingFlowMet))
                table.add(line)
            }
            if newFlow {
                table.notes.append("driver overhead subtracted (driver → return-only), ns: "
                    + BenchTraffic.allCases.map { "\($0.rawValue) \(BenchFormat.ns(method.newFlowDriverOverhead[$0.rawValue] ?? 0))" }.joined(separator: ", "))
            } else {
                table.notes.append("insns: instructions the verifier processed, per program (stages joined by +); JIT B: machine code of all its programs; '-': packet class not tracked by that set")
            }
            out += table.render() + "\n"
        }
        return out
    }
}
