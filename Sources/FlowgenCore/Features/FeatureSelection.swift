import Foundation

/// A user's feature list (`tcp,icmp,-ipv6`) resolved against the available modules.
public struct FeatureSelection: Sendable, Equatable {
    /// Selected modules in dependency order (a module after everything it requires).
    public var modules: [FeatureModule]

    /// Resolves `spec` (comma-separated names; `-name` excludes; `all` selects every module but
    /// those marked `in_all: false`, which change what a flow is and must be asked for by name).
    /// `always` modules are always in; `default` modules are in unless excluded; requirements follow.
    public init(_ spec: String, available: [FeatureModule]) throws {
        let byName = Dictionary(uniqueKeysWithValues: available.map { ($0.name, $0) })
        let names = available.map(\.name)
        var wanted: [String] = []
        var excluded = Set<String>()
        // parameters the list sets (`splt:n=20`), by module; they win over a preset's
        var settings: [String: [String: String]] = [:]
        for raw in spec.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !raw.isEmpty {
            if raw == "all" {
                wanted.append(contentsOf: available.filter(\.inAll).map(\.name))
                continue
            }
            let isExclusion = raw.hasPrefix("-")
            let entry = try ParameterizedName(isExclusion ? String(raw.dropFirst()) : raw)
            let name = entry.name
            guard byName[name] != nil else { throw FeatureError.unknownFeature(name, available: names) }
            if isExclusion {
                if !entry.settings.isEmpty { throw ParameterError("feature '\(name)' is left out (-\(name)): it takes no parameters there") }
                excluded.insert(name)
                continue
            }
            wanted.append(name)
            for (key, value) in entry.settings {
                if let earlier = settings[name]?[key], earlier != value {
                    throw ParameterError("feature '\(name)': parameter \(key) is set twice, to \(earlier) and to \(value); keep one")
                }
                settings[name, default: [:]][key] = value
            }
        }
        for module in available where module.always || (module.enabledByDefault && !excluded.contains(module.name)) {
            wanted.append(module.name)
        }
        var ordered: [FeatureModule] = []
        var placed = Set<String>()
        var visiting = Set<String>()
        func visit(_ name: String) throws {
            if placed.contains(name) || visiting.contains(name) { return }
            guard let module = byName[name] else { throw FeatureError.unknownFeature(name, available: names) }
            visiting.insert(name)
            for dep in module.requires {
                guard byName[dep] != nil else { throw FeatureError.missingDependency(module: name, requires: dep) }
                try visit(dep)
            }
            visiting.remove(name)
            placed.insert(name)
            ordered.append(module)
        }
        // always-on modules (base) first so their fields lead the record and the output
        for name in wanted.sorted(by: { (byName[$0]!.always ? 0 : 1, $0) < (byName[$1]!.always ? 0 : 1, $1) }) {
            if excluded.contains(name), !(byName[name]!.always) { continue }
            try visit(name)
        }
        // a preset's settings where the list set none; two presets that disagree are refused
        var chosen = settings
        var setBy: [String: String] = [:]
        for module in ordered {
            for (target, values) in module.requiredSettings {
                for (key, value) in values where settings[target]?[key] == nil {
                    if let earlier = chosen[target]?[key], earlier != value, let other = setBy["\(target):\(key)"] {
                        throw ParameterError("feature '\(target)': parameter \(key) is set to \(earlier) by '\(other)' and to \(value) by '\(module.name)'; set it yourself (--features \(target):\(key)=VALUE)")
                    }
                    chosen[target, default: [:]][key] = value
                    setBy["\(target):\(key)"] = module.name
                }
            }
        }
        ordered = try ordered.map { try $0.applying(chosen[$0.name] ?? [:]) }
        try DerivedField.check(ordered)
        try SequenceField.check(ordered)
        modules = ordered
    }

    /// A selection of exactly these modules (already resolved, in dependency order).
    public init(modules: [FeatureModule]) {
        self.modules = modules
    }

    /// Names of the selected modules, in order.
    public var names: [String] { modules.map(\.name) }
}

