import FlowgenCore
import FlowgenKernel
import FlowgenTestSupport

/// One feature set the kernel section measures: a preset, one module with base, or a combination.
public struct BenchFeatureSet: Sendable, Equatable {
    /// What the set stands for.
    public enum Kind: String, Codable, Sendable {
        /// A named preset from `presets.json` (base, seed, all, ...), or a module that only requires others.
        case preset
        /// Base plus one module.
        case module
        /// A combination listed in `presets.json` (e.g. tcp,icmp).
        case combination
    }

    /// Label in tables and JSON.
    public var label: String
    /// What it is.
    public var kind: Kind
    /// The `--features` value to build, nil when the set is not available yet.
    public var selection: String?
    /// The preset, with its targets, when this set is one.
    public var preset: BenchPreset?

    /// Every set to measure, in report order: base, each module with base, the combinations, then the
    /// other presets (unavailable ones included, so the report can say so).
    public static func all(catalog: FeatureCatalog, presets: BenchPreset.File) -> [BenchFeatureSet] {
        var sets: [BenchFeatureSet] = []
        let presetNames = Set(presets.presets.map(\.name))
        let basePreset = presets.presets.first { $0.selection.isEmpty }
        sets.append(BenchFeatureSet(label: basePreset?.name ?? "base", kind: .preset, selection: "", preset: basePreset))

        let defaults = catalog.modules.filter { $0.enabledByDefault && !$0.always }.map(\.name)
        var metaModules: [FeatureModule] = []
        for module in catalog.modules where !module.always && !presetNames.contains(module.name) {
            // A module that adds nothing of its own but requires others is a preset in module form.
            if module.fields.isEmpty && module.update == nil && module.defines.isEmpty && !module.requires.isEmpty {
                metaModules.append(module)
                continue
            }
            if module.enabledByDefault {
                // Default modules are already in base; "base with ipv4" means without the other defaults.
                let others = defaults.filter { $0 != module.name }
                sets.append(BenchFeatureSet(label: "base+\(module.name)" + (others.isEmpty ? "" : " (" + others.map { "-" + $0 }.joined(separator: ",") + ")"),
                                            kind: .module, selection: others.map { "-" + $0 }.joined(separator: ","), preset: nil))
            } else {
                sets.append(BenchFeatureSet(label: "base+\(module.name)", kind: .module, selection: module.name, preset: nil))
            }
        }
        for combination in presets.combinations {
            let ok = (try? FeatureSelection(combination, available: catalog.modules)) != nil
            sets.append(BenchFeatureSet(label: combination, kind: .combination, selection: ok ? combination : nil, preset: nil))
        }
        for preset in presets.presets where !preset.selection.isEmpty {
            sets.append(BenchFeatureSet(label: preset.name, kind: .preset, selection: preset.resolve(in: catalog), preset: preset))
        }
        for module in metaModules {
            sets.append(BenchFeatureSet(label: module.name, kind: .preset, selection: module.name, preset: nil))
        }
        return sets
    }

    /// The presets alone (base first), for the sections that measure only those.
    public static func presets(catalog: FeatureCatalog, presets: BenchPreset.File) -> [BenchFeatureSet] {
        all(catalog: catalog, presets: presets).filter { $0.kind == .preset }
    }
}
