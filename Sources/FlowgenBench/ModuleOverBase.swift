import FlowgenCore

/// The kernel section's per-module row: ns per packet each module adds over base, taken from the
/// "base+module" programs the section already times round-robin with base, so it costs no extra
/// measurement. Each figure is the median over rounds of (module's time − base's time in the same
/// round), for the same packet class and path, which cancels what a noisy round does to both.
public struct ModuleOverBase: Codable, Sendable {
    /// One module.
    public struct Row: Codable, Sendable {
        /// The module.
        public var module: String
        /// Modules the program has beyond base: the module and what it requires.
        public var added: [String]
        /// Verified instructions over base's (all stages summed).
        public var verifiedInstructions: Int
        /// ns per packet over base on the existing-flow path, by packet class (tracked classes only).
        public var existingFlow: [String: Double]
        /// ns per packet over base on the new-flow path, by packet class.
        public var newFlow: [String: Double]
    }

    /// Label of the base row the figures are relative to.
    public var base: String
    /// Base's own median ns per packet, existing flow, by packet class.
    public var baseExistingFlow: [String: Double]
    /// Base's own median ns per packet, new flow (net of the driver), by packet class.
    public var baseNewFlow: [String: Double]
    /// One row per module measured with base.
    public var rows: [Row]
    /// Modules on by default, already in base, so not measured over it.
    public var inBase: [String]

    /// The per-module figures of `kernel`; nil when its base row was not measured.
    public init?(kernel: KernelBenchResult) {
        guard let base = kernel.rows.first(where: { $0.kind == "preset" && $0.selection == "" && $0.unavailable == nil }) else { return nil }
        self.base = base.label
        baseExistingFlow = Self.medians(base.existingFlow)
        baseNewFlow = Self.medians(base.newFlow)
        let baseFeatures = Set(base.features)
        let baseInsns = base.verifiedInstructions.reduce(0, +)
        rows = []
        inBase = []
        for row in kernel.rows where row.kind == "module" && row.unavailable == nil {
            let added = row.features.filter { !baseFeatures.contains($0) }
            // "base+ipv4 (-ipv6)": a default module, measured by leaving the others out, not over base
            guard let module = row.label.split(separator: " ").first.map({ String($0.dropFirst("base+".count)) }),
                  added.contains(module) else {
                inBase.append(String(row.label.split(separator: " ").first?.dropFirst("base+".count) ?? ""))
                continue
            }
            rows.append(Row(module: module, added: added, verifiedInstructions: row.verifiedInstructions.reduce(0, +) - baseInsns,
                            existingFlow: Self.overBase(row.existingFlow, base.existingFlow),
                            newFlow: Self.overBase(row.newFlow, base.newFlow)))
        }
    }

    static func medians(_ cells: [KernelBenchResult.Cell]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: cells.filter(\.tracked).map { ($0.traffic, $0.nsPerPacket) })
    }

    /// Median over rounds of the paired differences, per packet class both programs track.
    static func overBase(_ cells: [KernelBenchResult.Cell], _ baseCells: [KernelBenchResult.Cell]) -> [String: Double] {
        var out: [String: Double] = [:]
        for cell in cells where cell.tracked {
            guard let baseCell = baseCells.first(where: { $0.traffic == cell.traffic && $0.tracked }) else { continue }
            let rounds = Swift.min(cell.samples.values.count, baseCell.samples.values.count)
            guard rounds > 0 else { continue }
            out[cell.traffic] = BenchSamples((0..<rounds).map { cell.samples.values[$0] - baseCell.samples.values[$0] }).median
        }
        return out
    }

    /// Two tables (existing flow, new flow): one row per module, ns over base per packet class.
    public func render() -> String {
        var out = ""
        for newFlow in [false, true] {
            let title = "Per module, \(newFlow ? "new" : "existing") flow: ns/packet over \(base) (median of per-round differences; \(base) itself in the first row)"
            var table = BenchTable(title: title, header: ["module", "+insns"] + BenchTraffic.allCases.map(\.rawValue))
            let baseFigures = newFlow ? baseNewFlow : baseExistingFlow
            table.add([base, ""] + BenchTraffic.allCases.map { baseFigures[$0.rawValue].map(BenchFormat.ns) ?? "-" })
            for row in rows {
                let figures = newFlow ? row.newFlow : row.existingFlow
                let label = row.added.count > 1 ? "\(row.module) (+\(row.added.filter { $0 != row.module }.joined(separator: ",")))" : row.module
                table.add([label, String(row.verifiedInstructions)] + BenchTraffic.allCases.map { t in
                    figures[t.rawValue].map { ($0 >= 0 ? "+" : "") + BenchFormat.ns($0) } ?? "-"
                })
            }
            if !newFlow {
                table.notes.append("+insns: verified instructions over \(base)'s; '-': class not tracked; differences under about 1 ns are within noise")
                if !inBase.isEmpty { table.notes.append("\(inBase.joined(separator: ", ")): on by default, so part of \(base); see their base+ rows above") }
            }
            out += table.render() + "\n"
        }
        return out
    }

    /// The feature sets of `--only modules`: base, then base+each of `modules` (every module's set when
    /// `modules` is empty), as the full kernel section builds them.
    public static func sets(_ modules: [String], catalog: FeatureCatalog, presets: BenchPreset.File) -> [BenchFeatureSet] {
        BenchFeatureSet.all(catalog: catalog, presets: presets).filter { set in
            if set.kind == .preset && set.selection == "" { return true }
            guard set.kind == .module, let name = set.label.split(separator: " ").first?.dropFirst("base+".count) else { return false }
            return modules.isEmpty || modules.contains(String(name))
        }
    }
}
