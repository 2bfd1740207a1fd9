/// Turns a feature selection into a `Plan`: record layout (largest alignment first, explicit
/// padding), stage list and map sizes.
public struct Planner: Sendable {
    /// Default flow-table capacity.
    public static let defaultMaxFlows = 131_072
    /// Name of the entry program.
    public static let entryProgram = "flowgen_entry"

    /// Creates a planner.
    public init() {}

    /// Plans the selected modules.
    public func plan(_ selection: FeatureSelection, maxFlows: Int = Planner.defaultMaxFlows) throws -> Plan {
        try Self.checkSize(selection.modules)
        // output names here, as only the plan knows which modules end up in one line together
        try OutputNames.check(selection.modules)
        var owners: [String: String] = [:]
        var entries: [(field: FieldSpec, feature: String, order: Int)] = []
        for module in selection.modules {
            for field in module.fields {
                if let other = owners[field.name] {
                    throw FeatureError.fieldClash(field: field.name, first: other, second: module.name)
                }
                owners[field.name] = module.name
                entries.append((field, module.name, entries.count))
            }
        }
        // Largest element first keeps every field naturally aligned without holes;
        // declaration order breaks ties so layouts are stable.
        entries.sort { ($0.field.type.size, -$0.order) > ($1.field.type.size, -$1.order) }
        var offset = 0
        var slots: [FieldSlot] = []
        for entry in entries {
            let align = entry.field.type.size
            offset = (offset + align - 1) / align * align
            slots.append(FieldSlot(field: entry.field, feature: entry.feature, offset: offset))
            offset += entry.field.byteSize
        }
        // flowgen's own members (presence bits, first/last times) after every module field, so
        // adding them moves no module field
        for field in FieldSampling(modules: selection.modules).hiddenFields {
            offset = (offset + 7) / 8 * 8
            slots.append(FieldSlot(field: field, feature: FieldSampling.owner, offset: offset))
            offset += field.byteSize
        }
        let size = max(8, (offset + 7) / 8 * 8)
        let limit = FeatureLimit.recordBytes
        if size > limit.maximum {
            let widest = slots.max { $0.field.byteSize < $1.field.byteSize }.map { " (the largest field: '\($0.field.name)' of '\($0.feature)', \($0.field.byteSize) bytes)" } ?? ""
            throw limit.error("features \(selection.names.joined(separator: ",")) need a \(size)-byte record per direction\(widest)", unit: "bytes")
        }
        var defines: [String] = []
        for module in selection.modules {
            for d in module.defines where !defines.contains(d) { defines.append(d) }
        }
        return Plan(features: selection.modules,
                    layout: RecordLayout(slots: slots, size: size),
                    stages: [Stage(program: Self.entryProgram, features: selection.names)],
                    maxFlows: maxFlows,
                    defines: defines)
    }

    /// Refuses selections beyond `FeatureLimit`s before any layout or code is made: modules and
    /// their code may come from anywhere (`FeatureSelection(modules:)`), not only from the loader,
    /// which checks the same bounds per file.
    static func checkSize(_ modules: [FeatureModule]) throws {
        let modulesLimit = FeatureLimit.modulesPerPlan
        if modules.count > modulesLimit.maximum {
            throw modulesLimit.error("the selection has \(modules.count) features", unit: "features per plan")
        }
        var total = 0
        for module in modules {
            let count = module.fields.count + module.derived.count
            let place = module.fields.first?.location ?? module.derived.first?.location ?? ""
            let perModule = FeatureLimit.fieldsPerModule
            if count > perModule.maximum {
                throw perModule.error("feature '\(module.name)'\(place.isEmpty ? "" : " (\(place))") declares \(count) fields", unit: "fields per module")
            }
            let bins = FeatureLimit.histogramBins
            if let field = module.fields.first(where: { $0.count > bins.maximum || $0.count < 1 }) {
                throw bins.error("field '\(field.name)' of feature '\(module.name)' has \(field.count) elements", unit: "bins")
            }
            let code = FeatureLimit.cFileBytes
            for source in [module.update, module.helpers].compactMap({ $0 }) where source.text.utf8.count > code.maximum {
                throw code.error("\(source.file) of feature '\(module.name)' holds \(source.text.utf8.count) bytes", unit: "bytes")
            }
            total += count
        }
        let perPlan = FeatureLimit.fieldsPerPlan
        if total > perPlan.maximum {
            throw perPlan.error("the selected features \(modules.map(\.name).joined(separator: ",")) declare \(total) fields", unit: "fields per plan")
        }
    }

    /// Name of the tail-called program of stage `index` (1-based stages after the entry).
    public static func stageProgram(_ index: Int) -> String { index == 0 ? entryProgram : "flowgen_stage_\(index)" }

    /// The plan with its features spread over stages: `groups[0]` runs in the entry program, the
    /// others in tail-called programs in order. Modules without per-packet code stay in stage 0;
    /// every module must appear once.
    public func split(_ plan: Plan, into groups: [[String]]) throws -> Plan {
        let all = Set(plan.features.map(\.name))
        var seen = Set<String>()
        for name in groups.joined() {
            guard all.contains(name), seen.insert(name).inserted else {
                throw FeatureError.unknownFeature(name, available: plan.features.map(\.name))
            }
        }
        let order = Dictionary(uniqueKeysWithValues: plan.features.enumerated().map { ($0.element.name, $0.offset) })
        var first = groups.first ?? []
        first += plan.features.map(\.name).filter { !seen.contains($0) }
        // dependency order inside every stage, so generated code is stable
        let rest = groups.dropFirst().filter { !$0.isEmpty }.map { $0.sorted { order[$0]! < order[$1]! } }
        first.sort { order[$0]! < order[$1]! }
        var out = plan
        out.stages = ([first] + rest).enumerated().map { Stage(program: Self.stageProgram($0.offset), features: $0.element) }
        return out
    }
}
