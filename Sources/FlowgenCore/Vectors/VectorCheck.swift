/// Compares the biflows a vector's packets made with what the vector expects. Exported fields are
/// read as the output shows them (`OutputSchema`: absent where JSON leaves them out, timestamps as
/// epoch µs); a state field (no output name for that side) is read from the record as stored.
public struct VectorCheck {
    /// One field that does not hold the expected value.
    public struct Difference: Sendable, Equatable, CustomStringConvertible {
        /// 1-based position of the flow among the vector's `expect:` entries.
        public var flow: Int
        /// forward, reverse or combined.
        public var section: VectorSection
        /// The module field.
        public var field: String
        /// The output name(s) compared, empty for a state field.
        public var output: String
        /// What the vector says.
        public var expected: String
        /// What the replay gave.
        public var actual: String

        /// `flow 1 reverse ip_len_min (DST_MIN_IP_PKT_LEN): expected 40, got 52`.
        public var description: String {
            "flow \(flow) \(section.rawValue) \(field)\(output.isEmpty ? "" : " (\(output))"): expected \(expected), got \(actual)"
        }
    }

    /// The plan the packets ran through.
    public let plan: Plan
    let schema: OutputSchema
    let decoder: RecordDecoder

    /// Creates a checker for flows of `plan`.
    public init(plan: Plan) {
        self.plan = plan
        schema = OutputSchema(plan: plan)
        decoder = RecordDecoder(plan: plan)
    }

    /// Fails with the vector's file and line when it names a field no selected module has, or a
    /// side a field has no value for; run before any packet so a typo is not reported as a difference.
    public func validate(_ vector: TestVector) throws {
        for flow in vector.flows {
            for entry in flow.values {
                _ = try resolve(entry.field, entry.section, vector: vector, line: entry.line)
            }
        }
    }

    /// What one expectation reads.
    enum Target {
        case columns([Int], names: [String])
        case stored(first: Int, count: Int)
        case sequence(direction: Int, size: Int, gap: Int, names: [String])
    }

    func resolve(_ field: String, _ section: VectorSection, vector: TestVector, line: Int) throws -> Target {
        func columns(_ names: [String]) -> [Int] { names.compactMap { n in schema.columns.firstIndex { $0.name == n } } }
        func pick(_ names: DirectionalNames) -> [String] {
            switch section {
            case .forward: return names.forward
            case .reverse: return names.reverse
            case .combined: return names.combined
            }
        }
        for module in plan.features {
            if let f = module.fields.first(where: { $0.name == field }) {
                let names = pick(f.json)
                if !names.isEmpty { return .columns(columns(names), names: names) }
                guard section != .combined, let first = decoder.firstColumn[field] else {
                    throw VectorError(file: vector.file, line: line, message: "field '\(field)' of '\(module.name)' has no combined output (json: combined:); check it under forward: and reverse:")
                }
                return .stored(first: first, count: f.count)
            }
            if let f = module.derived.first(where: { $0.name == field }) {
                let names = pick(f.json)
                guard !names.isEmpty else {
                    throw VectorError(file: vector.file, line: line, message: "derived field '\(field)' of '\(module.name)' has no \(section.rawValue) output; its json: names \(Self.sides(f.json))")
                }
                return .columns(columns(names), names: names)
            }
            if let f = module.sequences.first(where: { $0.name == field }) {
                guard section == .forward, f.json.forward.count == 3 else {
                    throw VectorError(file: vector.file, line: line, message: "sequence field '\(field)' of '\(module.name)' covers both directions; check it under forward:")
                }
                let c = columns(f.json.forward)
                return .sequence(direction: c[0], size: c[1], gap: c[2], names: f.json.forward)
            }
        }
        let all = plan.features.flatMap { m in m.fields.map(\.name) + m.derived.map(\.name) + m.sequences.map(\.name) }
        let hint = NameSuggestion.closest(to: field, among: all).map { "; did you mean '\($0)'?" } ?? ""
        throw VectorError(file: vector.file, line: line, message: "no selected module has a field '\(field)'\(hint) (modules: \(plan.features.map(\.name).joined(separator: ", ")); add others with `features:`)")
    }

    static func sides(_ names: DirectionalNames) -> String {
        let s = [("forward", names.forward), ("reverse", names.reverse), ("combined", names.combined)].filter { !$0.1.isEmpty }.map(\.0)
        return s.isEmpty ? "are none" : "are " + s.joined(separator: ", ")
    }

    /// The differences between `flows` (in export order) and the vector; empty when it passes.
    public func compare(_ vector: TestVector, flows: [Biflow]) throws -> [String] {
        var remaining = Array(flows.indices)
        var problems: [String] = []
        var matched: [(Int, ExpectedFlow)] = []
        for (n, expected) in vector.flows.enumerated() {
            let index: Int?
            if expected.key.isEmpty {
                index = remaining.first
            } else {
                index = remaining.first { matches(expected.key, flows[$0].forward.key) }
            }
            guard let index else {
                problems.append("flow \(n + 1) (line \(expected.line)): no exported flow" + (expected.key.isEmpty ? " left" : " with key \(expected.key.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"))
                continue
            }
            remaining.removeAll { $0 == index }
            matched.append((index, expected))
            for difference in try differences(n + 1, expected, flows[index], vector: vector) { problems.append(difference.description) }
        }
        if !remaining.isEmpty {
            problems.append("\(flows.count) flows exported, \(vector.flows.count) expected; not matched: "
                            + remaining.map { Self.describe(flows[$0].forward.key) }.joined(separator: "; "))
        }
        return problems
    }

    func matches(_ key: [String: String], _ k: FlowKey) -> Bool {
        for (name, value) in key {
            switch name {
            case "src": if k.src.description != value { return false }
            case "dst": if k.dst.description != value { return false }
            case "sport": if String(k.sport) != value { return false }
            case "dport": if String(k.dport) != value { return false }
            case "proto":
                let names: [UInt8: String] = [6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"]
                if String(k.proto) != value && names[k.proto] != value { return false }
            default: return false
            }
        }
        return true
    }

    static func describe(_ k: FlowKey) -> String {
        "\(k.src.description):\(k.sport) → \(k.dst.description):\(k.dport) proto \(k.proto)"
    }

    /// The differences of one flow.
    func differences(_ n: Int, _ expected: ExpectedFlow, _ flow: Biflow, vector: TestVector) throws -> [Difference] {
        let shown = schema.values(of: flow, epochOffsetNs: 0)
        var out: [Difference] = []
        for entry in expected.values {
            let target = try resolve(entry.field, entry.section, vector: vector, line: entry.line)
            let actual: ExpectedValue
            let output: String
            switch target {
            case let .columns(columns, names):
                output = names.joined(separator: ",")
                let values = columns.map { Self.expectedForm(shown[$0]) }
                actual = values.count == 1 ? values[0] : .elements(values)
            case let .stored(first, count):
                output = ""
                let record = entry.section == .forward ? flow.forward : flow.reverse
                let values = (0..<count).map { e in record.map { ExpectedValue.number($0.values[first + e]) } ?? .absent }
                actual = values.count == 1 ? values[0] : .elements(values)
            case let .sequence(d, s, g, names):
                output = names.joined(separator: ",")
                func list(_ v: OutputSchema.Value) -> [Int64] { if case .list(let l) = v { return l } else { return [] } }
                actual = .sequence(direction: list(shown[d]), size: list(shown[s]), gap: list(shown[g]))
            }
            if !Self.same(entry.value, actual) {
                out.append(Difference(flow: n, section: entry.section, field: entry.field, output: output,
                                      expected: entry.value.description, actual: actual.description))
            }
        }
        return out
    }

    static func expectedForm(_ v: OutputSchema.Value) -> ExpectedValue {
        switch v {
        case .number(let n): return .number(n)
        case .real(let d): return .real(d)
        case .absent: return .absent
        case .list(let l): return .elements(l.map { $0 < 0 ? .absent : .number(UInt64($0)) })
        case .text: return .absent
        }
    }

    /// Whether an expected value matches: reals to 1e-9 relative (a whole number against a real by value).
    static func same(_ e: ExpectedValue, _ a: ExpectedValue) -> Bool {
        func real(_ v: ExpectedValue) -> Double? {
            switch v {
            case .real(let d): return d
            case .number(let n): return Double(n)
            default: return nil
            }
        }
        switch (e, a) {
        case let (.elements(x), .elements(y)):
            return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.real, _), (_, .real):
            guard let x = real(e), let y = real(a) else { return false }
            return abs(x - y) <= 1e-9 * Swift.max(1, abs(x))
        default:
            return e == a
        }
    }
}
