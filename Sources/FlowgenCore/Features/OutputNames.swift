/// The rules for output names, the `json:` names of fields and derived fields: the JSON keys and
/// CSV header cells of every exported flow. The formatter renders them into bytes once per run and
/// copies them into every line, so a `"` or a newline in one would break every line, and a name
/// used twice gives a line with the key twice, where most JSON readers silently keep the last
/// value (a module naming a field IN_PKTS changed base's packet count that way).
public enum OutputNames {
    /// The longest accepted name, in characters.
    public static let maxLength = 64
    /// What a name may be, for messages.
    public static let rule = "1 to \(maxLength) ASCII letters, digits, '_', '.' or '-', starting with a letter or '_'"

    /// Whether `name` follows `rule`: safe as a JSON key and a CSV cell without escaping, and as
    /// a column name in the tools that read flows (pandas, SQL loaders, nfdump-style names).
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= maxLength, isLetter(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.allSatisfy { isLetter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_")
            || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    static func isLetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }

    /// Checks every output name of `modules` together: each follows `rule`, none is a built-in
    /// column (`OutputSchema.builtInNames`) and none is declared twice. The loader runs it per
    /// module, and the planner over the whole selection, as only the plan knows the other modules.
    static func check(_ modules: [FeatureModule]) throws {
        var owners: [String: String] = [:]
        for name in OutputSchema.builtInNames { owners[name] = "a built-in output column" }
        for module in modules {
            let fields = module.fields.map { ($0.name, $0.json, $0.location) } + module.derived.map { ($0.name, $0.json, $0.location) }
                + module.sequences.map { ($0.name, $0.json, $0.location) }
            for (field, json, location) in fields {
                for name in json.forward + json.reverse + json.combined {
                    guard isValid(name) else {
                        let (file, line) = DerivedField.split(location)
                        throw FeatureError.malformed(file: file.isEmpty ? "feature '\(module.name)'" : file, line: line, message:
                            "field '\(field)': json name \(FlowFormatter.jsonString(name)) is not allowed; output names are \(rule)")
                    }
                    let place = "field '\(field)' of feature '\(module.name)'" + (location.isEmpty ? "" : " (\(location))")
                    if let first = owners[name] {
                        throw FeatureError.outputNameClash(name: name, first: first, second: place)
                    }
                    owners[name] = place
                }
            }
        }
    }
}
