import Yams

/// An output a module computes at export time from stored fields (`derive:` instead of `value:`).
/// It takes no room in the kernel record: the collector evaluates it per direction, with the other
/// direction's fields at hand, and combines both directions by its aggregation.
public struct DerivedField: Sendable, Equatable {
    /// Name, unique among the selected modules' fields.
    public var name: String
    /// The expression, as parsed.
    public var expression: DeriveExpression
    /// The expression as written, for listings and the plan document.
    public var source: String
    /// How the `combined` name merges the two directions (sum, min, max, or, first, last).
    public var aggregation: Aggregation
    /// Output names per direction (one each).
    public var json: DirectionalNames
    /// IPFIX information element, if any.
    public var ipfix: IPFIXElement?
    /// Unit of the result.
    public var unit: FieldUnit
    /// Where the field was declared ("file:line").
    public var location: String

    /// Creates a derived field.
    public init(name: String, expression: DeriveExpression, source: String, aggregation: Aggregation,
                json: DirectionalNames = DirectionalNames(), ipfix: IPFIXElement? = nil, unit: FieldUnit = .none,
                location: String = "") {
        self.name = name
        self.expression = expression
        self.source = source
        self.aggregation = aggregation
        self.json = json
        self.ipfix = ipfix
        self.unit = unit
        self.location = location
    }

    /// Checks that every derived field of `modules` names only stored scalar fields of `modules`,
    /// and that no derived name clashes with another field.
    static func check(_ modules: [FeatureModule]) throws {
        var stored: [String: (module: String, count: Int)] = [:]
        for m in modules { for f in m.fields { stored[f.name] = (m.name, f.count) } }
        var seen: [String: String] = [:]
        for m in modules {
            for d in m.derived {
                if let owner = stored[d.name]?.module ?? seen[d.name] {
                    throw FeatureError.fieldClash(field: d.name, first: owner, second: m.name)
                }
                seen[d.name] = m.name
                for name in d.expression.fieldNames.sorted() {
                    let (file, line) = Self.split(d.location)
                    guard let target = stored[name] else {
                        throw FeatureError.malformed(file: file, line: line, message:
                            "field '\(d.name)': derive names '\(name)', which no selected module stores (add the module that declares it to `requires:`)")
                    }
                    if target.count != 1 {
                        throw FeatureError.malformed(file: file, line: line, message:
                            "field '\(d.name)': derive names '\(name)', an array; derive reads scalar fields only")
                    }
                }
            }
        }
    }

    static func split(_ location: String) -> (String, Int) {
        guard let colon = location.lastIndex(of: ":"), let line = Int(location[location.index(after: colon)...]) else {
            return (location, 1)
        }
        return (String(location[..<colon]), line)
    }
}

extension SpecReader {
    /// Parses a `fields:` entry with `derive:` (name, derive, aggregation, unit, json, ipfix).
    func derivedField(_ node: Node) throws -> DerivedField {
        guard let map = node.mapping else { throw error(node, "each field must be a mapping") }
        try allowOnly(["name", "derive", "aggregation", "json", "ipfix", "unit"], in: map, what: "derived field (with `derive:`)")
        let name = try identifier(map, "name", required: true)!
        guard let sourceNode = map["derive"], sourceNode.scalar != nil, let source = sourceNode.string,
              !source.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw error(map["derive"] ?? node, "field '\(name)': `derive` must be an expression over stored fields")
        }
        let limit = FeatureLimit.expressionLength
        if source.count > limit.maximum {
            throw error(sourceNode, "field '\(name)': `derive` is \(source.count) characters long; at most \(limit.maximum) (limit: \(limit.name))")
        }
        let expression: DeriveExpression
        do {
            expression = try DeriveExpression.parse(source)
        } catch let e as DeriveSyntaxError {
            throw error(sourceNode, "field '\(name)': derive: \(e)")
        }
        let aggName = try string(map, "aggregation") ?? "last"
        let aggregations: [String: Aggregation] = ["sum": .sum, "min": .min, "max": .max, "or": .or, "first": .first, "last": .last]
        guard let aggregation = aggregations[aggName] else {
            throw error(map["aggregation"]!, "field '\(name)': a derived field combines directions by sum, min, max, or, first or last, not '\(aggName)'")
        }
        var field = DerivedField(name: name, expression: expression, source: source, aggregation: aggregation,
                                 location: "\(file):\(node.mark?.line ?? 1)")
        if let unitName = try string(map, "unit") {
            guard let unit = FieldUnit(rawValue: unitName) else {
                throw error(map["unit"]!, "field '\(name)': unknown unit '\(unitName)'; use \(FieldUnit.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            field.unit = unit
        }
        if let jsonNode = map["json"] { field.json = try names(jsonNode, field: name, count: 1) }
        if let ipfixNode = map["ipfix"] { field.ipfix = try ipfix(ipfixNode, field: name) }
        if expression.isReal {
            // a real's bits would go out as an integer, and combining two directions' bits means nothing
            if let ipfixNode = map["ipfix"] {
                throw error(ipfixNode, "field '\(name)': a real-valued derive (mean, stddev) has no IPFIX encoding here; remove `ipfix:`")
            }
            if !field.json.combined.isEmpty {
                throw error(map["json"]!, "field '\(name)': a real-valued derive (mean, stddev) cannot be combined over both directions; compute it from own and `peer.` fields under a `forward` name instead")
            }
        }
        return field
    }
}
