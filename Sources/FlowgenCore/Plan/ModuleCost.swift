import Foundation

/// What each module of a plan costs: the bytes its fields take in the record, and the verified
/// instructions attributable to it, so a researcher can weigh a metric before deploying it.
///
/// The kernel reports `verified_insns` per program, not per function, so a module's figure is
/// measured by removal: the plan's total minus the total of the same plan without the module (and
/// without the modules that require it, which cannot stay). Always-on modules cannot be removed;
/// their figure is the total of a program of the always-on modules alone, which includes the
/// skeleton every monitor has (parsing, flow lookup). The verifier's count is not additive: state
/// pruning, branch merging and a different stage split make the figures sum to something other than
/// the total, so each figure reads "what leaving this module out saves", not a partition.
public struct ModuleCostReport: Sendable, Equatable {
    /// One module's row.
    public struct Row: Sendable, Equatable {
        /// Module name.
        public var feature: String
        /// Bytes of its fields in the record (padding excluded).
        public var recordBytes: Int
        /// Verified instructions attributable to it (nil: not measured, e.g. without root).
        public var verifiedInstructions: Int?
        /// Modules removed with it to measure it (those that require it), empty for most.
        public var removedWith: [String]
        /// Whether it is always on, so its figure is the always-on program's total rather than a difference.
        public var alwaysOn: Bool
    }

    /// Rows in the plan's module order.
    public var rows: [Row]
    /// The record's size (fields plus padding).
    public var recordSize: Int
    /// Verified instructions of the whole plan, summed over its stages (nil: not measured).
    public var totalVerifiedInstructions: Int?

    /// Bytes of the presence bits (`fg__seen`) that say which fields have a sample, shared by the modules.
    public var presenceBytes: Int
    /// Bytes of the record no field owns (alignment and rounding to 8).
    public var paddingBytes: Int { recordSize - presenceBytes - rows.reduce(0) { $0 + $1.recordBytes } }

    /// The record-bytes part of the report, from the plan alone (nothing to load).
    public init(plan: Plan) {
        rows = plan.features.map { module in
            Row(feature: module.name, recordBytes: Self.recordBytes(of: module.name, in: plan.layout),
                verifiedInstructions: nil, removedWith: module.always ? [] : Self.dependents(of: module.name, in: plan.features), alwaysOn: module.always)
        }
        recordSize = plan.layout.size
        presenceBytes = plan.layout.slots.filter { $0.field.name == FieldSampling.seenField }.reduce(0) { $0 + $1.field.byteSize }
        totalVerifiedInstructions = nil
    }

    /// Bytes the fields of `feature` take in `layout` (each field's element size × count).
    public static func recordBytes(of feature: String, in layout: RecordLayout) -> Int {
        layout.slots.filter { $0.feature == feature }.reduce(0) { $0 + $1.field.byteSize }
    }

    /// The modules of `modules` that require `feature`, directly or through others, in plan order.
    public static func dependents(of feature: String, in modules: [FeatureModule]) -> [String] {
        var gone: Set<String> = [feature]
        var changed = true
        while changed {
            changed = false
            for module in modules where !gone.contains(module.name) && module.requires.contains(where: gone.contains) {
                gone.insert(module.name)
                changed = true
            }
        }
        return modules.map(\.name).filter { $0 != feature && gone.contains($0) }
    }

    /// The plans whose verified totals the report needs: `nil` key for the whole plan, each
    /// removable module's name for the plan without it (and its dependents), and `always` for the
    /// always-on modules alone. Parameters set on the kept modules are kept.
    public static func measurementPlans(of plan: Plan) throws -> [(key: String?, plan: Plan)] {
        var plans: [(key: String?, plan: Plan)] = [(nil, plan)]
        let planner = Planner()
        for module in plan.features where !module.always {
            let removed = Set([module.name] + dependents(of: module.name, in: plan.features))
            let kept = plan.features.filter { !removed.contains($0.name) }
            plans.append((module.name, try planner.plan(FeatureSelection(modules: kept), maxFlows: plan.maxFlows)))
        }
        let always = plan.features.filter(\.always)
        if !always.isEmpty {
            plans.append((alwaysKey, try planner.plan(FeatureSelection(modules: always), maxFlows: plan.maxFlows)))
        }
        return plans
    }

    /// Key of the always-on-modules-alone plan in `measurementPlans` (not a valid module name).
    public static let alwaysKey = "(always-on)"

    /// Fills in the verified-instruction figures from the totals of `measurementPlans` (by key; the
    /// whole plan's under nil). A missing total leaves the figures it feeds nil.
    public mutating func attribute(totals: [String?: Int]) {
        totalVerifiedInstructions = totals[String?.none]
        for i in rows.indices {
            if rows[i].alwaysOn {
                // every always-on module shares the one figure: none of them can be left out alone
                rows[i].verifiedInstructions = totals[Self.alwaysKey]
            } else if let total = totalVerifiedInstructions, let without = totals[rows[i].feature] {
                rows[i].verifiedInstructions = total - without
            }
        }
    }

    /// `part` as a percentage of `whole`, one decimal ("12.5%"); empty when either is unknown.
    static func share(_ part: Int?, of whole: Int?) -> String {
        guard let part, let whole, whole > 0 else { return "" }
        return String(format: "%.1f%%", Double(part) * 100 / Double(whole))
    }

    /// The table `flowgen features --cost` prints.
    public func table() -> String {
        var lines: [[String]] = [["module", "record B", "share", "verified insns", "share", ""]]
        for row in rows {
            let note = row.alwaysOn ? "always on: the program of the always-on modules alone"
                : row.removedWith.isEmpty ? "" : "with " + row.removedWith.joined(separator: ",") + (row.removedWith.count == 1 ? ", which requires it" : ", which require it")
            lines.append([row.feature, String(row.recordBytes), Self.share(row.recordBytes, of: recordSize),
                          row.verifiedInstructions.map(String.init) ?? "-", Self.share(row.verifiedInstructions, of: totalVerifiedInstructions), note])
        }
        if presenceBytes > 0 { lines.append(["(presence bits)", String(presenceBytes), Self.share(presenceBytes, of: recordSize), "", "", ""]) }
        lines.append(["(padding)", String(paddingBytes), Self.share(paddingBytes, of: recordSize), "", "", ""])
        lines.append(["total", String(recordSize), "100.0%", totalVerifiedInstructions.map(String.init) ?? "-",
                      totalVerifiedInstructions == nil ? "" : "100.0%", "all stages"])
        let widths = (0..<lines[0].count).map { c in lines.map { $0[c].count }.max() ?? 0 }
        return lines.map { line in
            line.enumerated().map { c, cell in
                // names left, numbers right
                c == 0 || c == line.count - 1 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }

    /// The `cost` object of `flowgen build --emit plan`.
    public var object: [String: Any] {
        [
            "modules": rows.map { row -> [String: Any] in
                [
                    "feature": row.feature, "record_bytes": row.recordBytes,
                    "record_share": recordSize > 0 ? Double(row.recordBytes) / Double(recordSize) : 0,
                    "verified_insns": row.verifiedInstructions.map { $0 as Any } ?? NSNull(),
                    "verified_share": row.verifiedInstructions.flatMap { n in totalVerifiedInstructions.map { $0 > 0 ? Double(n) / Double($0) as Any : NSNull() } } ?? NSNull(),
                    "removed_with": row.removedWith, "always_on": row.alwaysOn,
                ]
            },
            "record_bytes": recordSize, "presence_bytes": presenceBytes, "padding_bytes": paddingBytes,
            "verified_insns": totalVerifiedInstructions.map { $0 as Any } ?? NSNull(),
            "method": "verified_insns per module: the plan's total minus the total without the module and those requiring it; always-on modules: their program alone; not additive",
        ]
    }
}
