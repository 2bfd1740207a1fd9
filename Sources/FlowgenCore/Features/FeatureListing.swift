/// Human-readable listing of feature modules for `flowgen features`.
public struct FeatureListing: Sendable {
    /// The modules to list.
    public let modules: [FeatureModule]

    /// Creates a listing.
    public init(modules: [FeatureModule]) { self.modules = modules }

    /// One line per module (and per field with `withFields`).
    public func text(withFields: Bool) -> String {
        let width = (modules.map(\.name.count).max() ?? 4) + 2
        var out = ""
        for m in modules {
            var tags: [String] = []
            if m.always { tags.append("always on") } else if m.enabledByDefault { tags.append("on by default") }
            if !m.inAll { tags.append("not in all") }
            if !m.appliesTo.isEmpty { tags.append("applies to " + m.appliesTo.map(\.rawValue).joined(separator: "/")) }
            // a module that only requires others is a preset (e.g. `seed`): say what it selects
            let isPreset = m.fields.isEmpty && m.derived.isEmpty && m.update == nil && m.defines.isEmpty && !m.requires.isEmpty
            let required = m.requires.map { name in
                name + (m.requiredSettings[name] ?? [:]).sorted { $0.key < $1.key }.map { ":\($0.key)=\($0.value)" }.joined()
            }
            if !m.requires.isEmpty { tags.append((isPreset ? "preset: selects " : "requires ") + required.joined(separator: ",")) }
            // one line per module stays one line: parameters as a tag, in full with the fields
            if !m.parameters.isEmpty {
                tags.append("parameters " + m.parameters.map { "\($0.name)=\($0.defaultValue)" }.joined(separator: " ") + " (\(m.name):NAME=VALUE)")
            }
            let pad = String(repeating: " ", count: max(1, width - m.name.count))
            out += m.name + pad + m.summary + (tags.isEmpty ? "" : " [" + tags.joined(separator: "; ") + "]") + "\n"
            guard withFields else { continue }
            // parameters with their defaults and bounds: what `--features NAME:PARAM=VALUE` may set
            for p in m.parameters {
                out += "    parameter \(p.listing); set with --features \(m.name):\(p.name)=VALUE\n"
            }
            for f in m.fields {
                let names = (f.json.forward + f.json.reverse + f.json.combined)
                let ie = f.ipfix.map { " ipfix \($0.enterprise == 0 ? "" : "\($0.enterprise)/")\($0.id)\($0.name.isEmpty ? "" : " " + $0.name)" } ?? ""
                out += "    \(f.name): \(f.type.rawValue)\(f.count > 1 ? "[\(f.count)]" : "") \(f.aggregation.name) -> \(names.joined(separator: ", "))\(ie)\n"
            }
            for d in m.derived {
                let names = d.json.forward + d.json.reverse + d.json.combined
                out += "    \(d.name): derived at export (\(d.aggregation.name)) -> \(names.joined(separator: ", ")): \(d.source)\n"
            }
            for q in m.sequences {
                out += "    \(q.name): first \(q.length) packets of both directions at export -> \(q.json.forward.joined(separator: ", ")) (direction, size, gap ms; -1 padded)\n"
            }
        }
        return out
    }
}
