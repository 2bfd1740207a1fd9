import Yams

/// A value a module lets its user choose (`parameters:` in feature.yaml), such as splt's sequence
/// length: declared with a default and bounds, set with `--features splt:n=20` (or in a preset's
/// `requires:`), visible to the module's C as `FG_PARAM_<MODULE>_<NAME>` and to its YAML as
/// `$name` where a count is written (`bins:`, a sequence's `length:`).
public struct ModuleParameter: Sendable, Equatable {
    /// What a parameter holds.
    public enum Kind: String, Sendable, Equatable {
        /// One whole number.
        case int
        /// A list of whole numbers (e.g. a histogram's bin edges), written `64/128/256`.
        case list
    }

    /// A parameter's value.
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        /// A whole number.
        case int(Int64)
        /// A list of whole numbers.
        case list([Int64])

        /// As written on the command line: `20`, `64/128/256`.
        public var description: String {
            switch self {
            case .int(let v): return String(v)
            case .list(let l): return l.map(String.init).joined(separator: "/")
            }
        }

        /// The C text of the value: a number, or a braced initializer list.
        public var cText: String {
            switch self {
            case .int(let v): return String(v)
            case .list(let l): return "{ " + l.map(String.init).joined(separator: ", ") + " }"
            }
        }

        /// The JSON form (`--emit plan`).
        public var jsonObject: Any {
            switch self {
            case .int(let v): return v
            case .list(let l): return l
            }
        }
    }

    /// Name, a C identifier unique in the module.
    public var name: String
    /// Number or list.
    public var kind: Kind
    /// The value when the selection does not give one.
    public var defaultValue: Value
    /// Smallest value (of a number, or of each list element).
    public var minimum: Int64
    /// Largest value (of a number, or of each list element).
    public var maximum: Int64
    /// One line for `flowgen features`.
    public var summary: String

    /// Creates a parameter.
    public init(name: String, kind: Kind, defaultValue: Value, minimum: Int64, maximum: Int64, summary: String = "") {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.minimum = minimum
        self.maximum = maximum
        self.summary = summary
    }

    /// Most elements a list parameter may hold.
    public static let maximumListLength = 64

    /// The C macro naming the value in generated code.
    public func macro(module: String) -> String { "FG_PARAM_\(module.uppercased())_\(name.uppercased())" }

    /// `text` as this parameter's value, or why it is not one (without the module's name).
    public func parse(_ text: String) -> Result<Value, ParameterError.Problem> {
        switch kind {
        case .int:
            guard let v = Int64(text) else { return .failure(.type("a whole number")) }
            guard (minimum...maximum).contains(v) else { return .failure(.range(minimum, maximum)) }
            return .success(.int(v))
        case .list:
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard !text.isEmpty, parts.count <= Self.maximumListLength else {
                return .failure(.type("a list of 1 to \(Self.maximumListLength) whole numbers separated by / (e.g. 64/128/256)"))
            }
            var out: [Int64] = []
            for p in parts {
                guard let v = Int64(p) else { return .failure(.type("a list of whole numbers separated by / (e.g. 64/128/256)")) }
                guard (minimum...maximum).contains(v) else { return .failure(.range(minimum, maximum)) }
                out.append(v)
            }
            return .success(.list(out))
        }
    }

    /// The bounds and default as `flowgen features` shows them: `n = 10 (1 to 64)`.
    public var listing: String {
        "\(name) = \(defaultValue) (\(kind == .list ? "list, each " : "")\(minimum) to \(maximum))" + (summary.isEmpty ? "" : ": \(summary)")
    }
}

/// A parameter set wrongly on the command line, in `--config` or in a preset, naming the module
/// and the parameter.
public struct ParameterError: Error, Equatable, CustomStringConvertible {
    /// What is wrong with a value.
    public enum Problem: Error, Equatable, Sendable {
        /// Not of the parameter's kind (the text says what it must be).
        case type(String)
        /// Outside the bounds.
        case range(Int64, Int64)
    }

    /// The message.
    public let description: String

    /// Creates an error with its message.
    public init(_ description: String) { self.description = description }

    /// `module:name=text` is not a value of the parameter.
    static func bad(_ module: String, _ p: ModuleParameter, _ text: String, _ problem: Problem) -> ParameterError {
        switch problem {
        case .type(let what):
            return ParameterError("feature '\(module)': parameter \(p.name)='\(text)' must be \(what)")
        case let .range(lo, hi):
            return ParameterError("feature '\(module)': parameter \(p.name)=\(text) is out of range: \(p.kind == .list ? "each value " : "")from \(lo) to \(hi)")
        }
    }
}

/// A selection entry such as `splt:n=20:x=1`: the module name and its parameter settings as typed.
struct ParameterizedName: Equatable {
    /// The module's name.
    var name: String
    /// `parameter = text` in the order written.
    var settings: [(String, String)]

    static func == (a: ParameterizedName, b: ParameterizedName) -> Bool {
        a.name == b.name && a.settings.map(\.0) == b.settings.map(\.0) && a.settings.map(\.1) == b.settings.map(\.1)
    }

    /// Splits `raw`; a setting without `=` is refused naming the module.
    init(_ raw: String) throws {
        let parts = raw.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        name = parts[0]
        settings = []
        for part in parts.dropFirst() {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                throw ParameterError("feature '\(name)': '\(part)' is not a parameter setting; write \(name):NAME=VALUE (e.g. splt:n=20)")
            }
            settings.append((kv[0], kv[1]))
        }
    }
}

extension FeatureModule {
    /// The module with `settings` (parameter name → text) applied over its defaults: values
    /// checked, counts written `$name` recomputed. Unknown names are answered with the closest one.
    func applying(_ settings: [String: String]) throws -> FeatureModule {
        var values: [String: ModuleParameter.Value] = [:]
        for p in parameters { values[p.name] = p.defaultValue }
        for (name, text) in settings.sorted(by: { $0.key < $1.key }) {
            guard let p = parameters.first(where: { $0.name == name }) else {
                let names = parameters.map(\.name)
                let hint = NameSuggestion.closest(to: name, among: names).map { "did you mean '\($0)'? " } ?? ""
                let known = names.isEmpty ? "it has none" : "its parameters: " + names.joined(separator: ", ")
                throw ParameterError("feature '\(self.name)' has no parameter '\(name)'; \(hint)(\(known); `flowgen features` shows them)")
            }
            switch p.parse(text) {
            case .success(let v): values[name] = v
            case .failure(let problem): throw ParameterError.bad(self.name, p, text, problem)
            }
        }
        var module = self
        module.parameterValues = values
        for i in module.fields.indices {
            guard let expression = module.fields[i].binsExpression else { continue }
            let bins = try Self.count(expression, values, module: self.name, what: "field '\(module.fields[i].name)' bins",
                                      range: 2...FeatureLimit.histogramBins.maximum)
            module.fields[i].aggregation = .histogram(bins: bins)
            module.fields[i].count = bins
        }
        for i in module.sequences.indices {
            guard let expression = module.sequences[i].lengthExpression else { continue }
            module.sequences[i].length = try Self.count(expression, values, module: self.name, what: "sequence '\(module.sequences[i].name)' length",
                                                        range: 1...SequenceField.maxLength)
        }
        return module
    }

    /// The value of a count written `$name`, `$name+K` or `$name-K` (a list parameter counts its
    /// elements), checked against `range`.
    static func count(_ expression: String, _ values: [String: ModuleParameter.Value], module: String, what: String,
                      range: ClosedRange<Int>) throws -> Int {
        guard let (name, offset) = ParameterReference.parse(expression), let value = values[name] else {
            throw ParameterError("feature '\(module)': \(what) '\(expression)' names no parameter of the module")
        }
        let base: Int64
        switch value {
        case .int(let v): base = v
        case .list(let l): base = Int64(l.count)
        }
        let (n, overflow) = base.addingReportingOverflow(offset)
        guard !overflow, n >= range.lowerBound, n <= range.upperBound else {
            throw ParameterError("feature '\(module)': \(what) \(expression) = \(overflow ? "too large" : String(n)) with \(name)=\(value); it must be from \(range.lowerBound) to \(range.upperBound): choose another \(name)")
        }
        return Int(n)
    }
}

/// A count in feature.yaml written as a parameter: `$n`, `$n+1`, `$edges-1`.
enum ParameterReference {
    /// The parameter's name and the constant added, nil when `text` is no such reference.
    static func parse(_ text: String) -> (String, Int64)? {
        guard text.hasPrefix("$") else { return nil }
        let body = text.dropFirst().filter { $0 != " " }
        if let i = body.firstIndex(where: { $0 == "+" || $0 == "-" }) {
            let name = String(body[..<i])
            guard FeatureLoader.isIdentifier(name), let k = Int64(body[body.index(after: i)...]), k >= 0, k <= 1024 else { return nil }
            return (name, body[i] == "+" ? k : -k)
        }
        let name = String(body)
        return FeatureLoader.isIdentifier(name) ? (name, 0) : nil
    }
}

extension SpecReader {
    /// `parameters:`: a list of { name, type (int | list), default, min, max, summary }.
    func parameters(_ node: Node) throws -> [ModuleParameter] {
        guard let seq = node.sequence else { throw error(node, "`parameters` must be a list of { name:, type:, default:, min:, max: }") }
        var out: [ModuleParameter] = []
        for item in seq {
            guard let map = item.mapping else { throw error(item, "each parameter must be a mapping with name:, type:, default:, min:, max:") }
            try allowOnly(["name", "type", "default", "min", "max", "summary"], in: map, what: "parameter")
            let name = try identifier(map, "name", required: true)!
            guard !out.contains(where: { $0.name == name }) else { throw error(item, "parameter '\(name)' is declared twice") }
            let kindText = try string(map, "type") ?? "int"
            guard let kind = ModuleParameter.Kind(rawValue: kindText) else {
                throw error(map["type"]!, "parameter '\(name)': unknown type '\(kindText)'; use int or list")
            }
            func bound(_ key: String) throws -> Int64 {
                guard let n = map[key] else { throw error(item, "parameter '\(name)': missing `\(key):` (the \(key == "min" ? "smallest" : "largest") value allowed)") }
                guard let s = n.string, let v = Int64(s) else { throw error(n, "parameter '\(name)': `\(key)` must be a whole number") }
                return v
            }
            let lo = try bound("min"), hi = try bound("max")
            guard lo <= hi else { throw error(map["max"]!, "parameter '\(name)': `max` \(hi) is below `min` \(lo)") }
            guard let d = map["default"] else { throw error(item, "parameter '\(name)': missing `default:`") }
            var p = ModuleParameter(name: name, kind: kind, defaultValue: .int(0), minimum: lo, maximum: hi, summary: try string(map, "summary") ?? "")
            let text: String
            if let list = d.sequence {
                text = list.compactMap(\.string).joined(separator: "/")
            } else {
                text = d.string ?? ""
            }
            switch p.parse(text) {
            case .success(let v): p.defaultValue = v
            case .failure(let problem): throw error(d, "default: \(ParameterError.bad("", p, text, problem).description.replacingOccurrences(of: "feature '': ", with: ""))")
            }
            out.append(p)
        }
        return out
    }

    /// A count (`bins:`, a sequence's `length:`): a number, or `$name` / `$name+K` of one of
    /// `parameters`, evaluated with their defaults. Returns the value and the expression (nil for a number).
    func count(_ node: Node, parameters: [ModuleParameter], what: String, range: ClosedRange<Int>) throws -> (Int, String?)? {
        if let n = node.int { return range.contains(n) ? (n, nil) : nil }
        guard let text = node.string, let (name, _) = ParameterReference.parse(text) else { return nil }
        guard parameters.contains(where: { $0.name == name }) else {
            throw error(node, "\(what) '\(text)' names no parameter; declare `\(name)` under `parameters:`")
        }
        let defaults = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.defaultValue) })
        do {
            return (try FeatureModule.count(text, defaults, module: "", what: what, range: range), text)
        } catch let e as ParameterError {
            throw error(node, e.description.replacingOccurrences(of: "feature '': ", with: "") + " (with the default)")
        }
    }
}
