/// A value the collector computes at export time from stored fields of both directions
/// (`derive:` in feature.yaml), for what one direction's kernel record cannot know alone, such as
/// a TCP window scaled only when both SYNs carried the window-scale option.
///
/// The language is a small, C-like expression over unsigned 64-bit numbers:
/// - `name` is a stored scalar field of the direction being exported, `peer.name` the same field
///   of the other direction;
/// - decimal or `0x` literals, and `absent` (no value: the output is left out);
/// - `?:`, `||`, `&&`, `|`, `^`, `&`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `<<`, `>>`, `+`, `-`, `*`,
///   `/`, `%`, unary `!`, `~`, with C precedence, and `min(a, b, ...)`, `max(a, b, ...)`.
///
/// - `mean(s, n)` and `stddev(s, q, n)`, real-valued: the mean s/n, and the sample standard
///   deviation √((n·q − s²) / (n(n−1))) of n values with sum s and sum of squares q (the numerator
///   exact in 128 bits); absent for n = 0 and n < 2. A real may only be the whole expression or a
///   branch of `?:` (the other branch, an integer, is then shown as a real): no arithmetic on it.
///
/// Arithmetic wraps modulo 2^64; a shift by 64 or more gives 0; division by zero is `absent`.
/// `absent` propagates through arithmetic and comparisons, counts as false in `!`, `&&`, `||` and
/// `?:`, and is skipped by `min`/`max` (all absent: absent). `peer.x` is absent for a one-way flow.
public indirect enum DeriveExpression: Sendable, Equatable, CustomStringConvertible {
    /// A literal.
    case number(UInt64)
    /// No value.
    case absent
    /// A stored field by name; `peer` selects the other direction.
    case field(String, peer: Bool)
    /// A stored field resolved to its decoder column.
    case column(Int, peer: Bool)
    /// `!x`, `~x`.
    case unary(String, DeriveExpression)
    /// `a op b`.
    case binary(String, DeriveExpression, DeriveExpression)
    /// `c ? a : b`.
    case conditional(DeriveExpression, DeriveExpression, DeriveExpression)
    /// `min(...)`, `max(...)`.
    case call(String, [DeriveExpression])

    /// Parses an expression; the error says what is wrong and where (a character offset).
    public static func parse(_ text: String) throws -> DeriveExpression {
        var parser = DeriveParser(text)
        let expression = try parser.expression()
        try parser.expectEnd()
        try expression.checkReals(whole: true)
        return expression
    }

    /// Whether the expression's value is real (a `mean`/`stddev`, or `?:` with such a branch): the
    /// value is then the IEEE 754 bits of a Double.
    public var isReal: Bool {
        switch self {
        case let .call(name, _): return Self.realFunctions.contains(name)
        case let .conditional(_, a, b): return a.isReal || b.isReal
        default: return false
        }
    }

    /// The functions whose value is real.
    static let realFunctions: Set<String> = ["mean", "stddev"]

    /// Refuses a real anywhere but the whole expression or a branch of `?:` under it, since the
    /// integer operators would read its bits as a number.
    func checkReals(whole: Bool) throws {
        switch self {
        case .number, .absent, .field, .column: return
        case let .unary(_, a): try Self.integer(a)
        case let .binary(_, a, b): try Self.integer(a); try Self.integer(b)
        case let .conditional(c, a, b):
            try Self.integer(c)
            if whole { try a.checkReals(whole: true); try b.checkReals(whole: true) } else { try Self.integer(a); try Self.integer(b) }
        case let .call(name, args):
            if Self.realFunctions.contains(name) && !whole {
                throw DeriveSyntaxError(message: "\(name)(...) is a real number: it can only be the whole expression or a branch of '?:', not an operand", offset: 0)
            }
            for arg in args { try Self.integer(arg) }
        }
    }

    static func integer(_ e: DeriveExpression) throws {
        if e.isReal {
            throw DeriveSyntaxError(message: "\(e) is a real number: it can only be the whole expression or a branch of '?:', not an operand", offset: 0)
        }
        try e.checkReals(whole: false)
    }

    /// s/n as the bits of a Double; nil for n = 0.
    static func mean(_ s: UInt64, _ n: UInt64) -> UInt64? {
        n == 0 ? nil : (Double(s) / Double(n)).bitPattern
    }

    /// The sample standard deviation of n values with sum s and sum of squares q, as the bits of a
    /// Double; nil for n < 2. n·q − s² is exact in 128 bits (and 0 if the sums are inconsistent).
    static func stddev(_ s: UInt64, _ q: UInt64, _ n: UInt64) -> UInt64? {
        guard n >= 2 else { return nil }
        let nq = n.multipliedFullWidth(by: q), ss = s.multipliedFullWidth(by: s)
        guard nq.high > ss.high || (nq.high == ss.high && nq.low >= ss.low) else { return 0.0.bitPattern }
        let (low, borrow) = nq.low.subtractingReportingOverflow(ss.low)
        let high = nq.high - ss.high - (borrow ? 1 : 0)
        let numerator = Double(high) * 18446744073709551616.0 + Double(low)
        let d = n.multipliedFullWidth(by: n - 1)
        let denominator = Double(d.high) * 18446744073709551616.0 + Double(d.low)
        return (numerator / denominator).squareRoot().bitPattern
    }

    /// An integer as the bits of a Double (the integer branch of a real `?:`).
    static func real(_ v: UInt64) -> UInt64 { Double(v).bitPattern }

    /// Every field the expression names, own and `peer.` alike.
    public var fieldNames: Set<String> {
        switch self {
        case .number, .absent, .column: return []
        case let .field(name, _): return [name]
        case let .unary(_, a): return a.fieldNames
        case let .binary(_, a, b): return a.fieldNames.union(b.fieldNames)
        case let .conditional(c, a, b): return c.fieldNames.union(a.fieldNames).union(b.fieldNames)
        case let .call(_, args): return args.reduce(into: Set<String>()) { $0.formUnion($1.fieldNames) }
        }
    }

    /// The expression with every field replaced by its column; nil if a name has no column.
    public func resolved(_ column: (String) -> Int?) -> DeriveExpression? {
        switch self {
        case .number, .absent, .column: return self
        case let .field(name, peer): return column(name).map { .column($0, peer: peer) }
        case let .unary(op, a): return a.resolved(column).map { .unary(op, $0) }
        case let .binary(op, a, b):
            guard let ra = a.resolved(column), let rb = b.resolved(column) else { return nil }
            return .binary(op, ra, rb)
        case let .conditional(c, a, b):
            guard let rc = c.resolved(column), let ra = a.resolved(column), let rb = b.resolved(column) else { return nil }
            return .conditional(rc, ra, rb)
        case let .call(name, args):
            var out: [DeriveExpression] = []
            for arg in args {
                guard let r = arg.resolved(column) else { return nil }
                out.append(r)
            }
            return .call(name, out)
        }
    }

    /// Evaluates a resolved expression over one direction's values and the other's (nil: one-way flow).
    /// Unresolved field names evaluate to absent.
    public func evaluate(own: [UInt64], peer: [UInt64]?) -> UInt64? {
        switch self {
        case let .number(n): return n
        case .absent, .field: return nil
        case let .column(c, isPeer):
            guard let values = isPeer ? peer : own, c >= 0, c < values.count else { return nil }
            return values[c]
        case let .unary(op, a):
            let v = a.evaluate(own: own, peer: peer)
            switch op {
            case "!": return (v ?? 0) == 0 ? 1 : 0
            default: return v.map { ~$0 }
            }
        case let .binary(op, a, b):
            switch op {
            case "&&":
                guard let x = a.evaluate(own: own, peer: peer), x != 0 else { return 0 }
                return (b.evaluate(own: own, peer: peer) ?? 0) != 0 ? 1 : 0
            case "||":
                if let x = a.evaluate(own: own, peer: peer), x != 0 { return 1 }
                return (b.evaluate(own: own, peer: peer) ?? 0) != 0 ? 1 : 0
            default:
                guard let x = a.evaluate(own: own, peer: peer), let y = b.evaluate(own: own, peer: peer) else { return nil }
                return Self.apply(op, x, y)
            }
        case let .conditional(c, a, b):
            let branch = (c.evaluate(own: own, peer: peer) ?? 0) != 0 ? a : b
            let v = branch.evaluate(own: own, peer: peer)
            // an integer branch of a real conditional is shown as a real
            return isReal && !branch.isReal ? v.map(Self.real) : v
        case let .call(name, args):
            if Self.realFunctions.contains(name) {
                let v = args.map { $0.evaluate(own: own, peer: peer) }
                guard !v.contains(where: { $0 == nil }) else { return nil }
                return name == "mean" ? Self.mean(v[0]!, v[1]!) : Self.stddev(v[0]!, v[1]!, v[2]!)
            }
            let values = args.compactMap { $0.evaluate(own: own, peer: peer) }
            return name == "min" ? values.min() : values.max()
        }
    }

    static func apply(_ op: String, _ x: UInt64, _ y: UInt64) -> UInt64? {
        switch op {
        case "|": return x | y
        case "^": return x ^ y
        case "&": return x & y
        case "==": return x == y ? 1 : 0
        case "!=": return x != y ? 1 : 0
        case "<": return x < y ? 1 : 0
        case "<=": return x <= y ? 1 : 0
        case ">": return x > y ? 1 : 0
        case ">=": return x >= y ? 1 : 0
        case "<<": return y >= 64 ? 0 : x << y
        case ">>": return y >= 64 ? 0 : x >> y
        case "+": return x &+ y
        case "-": return x &- y
        case "*": return x &* y
        case "/": return y == 0 ? nil : x / y
        case "%": return y == 0 ? nil : x % y
        default: return nil
        }
    }

    /// The expression in the source syntax, fully parenthesised.
    public var description: String {
        switch self {
        case let .number(n): return String(n)
        case .absent: return "absent"
        case let .field(name, peer): return peer ? "peer.\(name)" : name
        case let .column(c, peer): return peer ? "peer.$\(c)" : "$\(c)"
        case let .unary(op, a): return "\(op)\(a)"
        case let .binary(op, a, b): return "(\(a) \(op) \(b))"
        case let .conditional(c, a, b): return "(\(c) ? \(a) : \(b))"
        case let .call(name, args): return "\(name)(\(args.map(\.description).joined(separator: ", ")))"
        }
    }
}

/// A syntax error in a `derive:` expression.
public struct DeriveSyntaxError: Error, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// Character offset in the expression.
    public var offset: Int
    /// The message with its position.
    public var description: String { "\(message) at character \(offset + 1)" }
}

/// Recursive-descent parser with C precedence (lowest first: ?:, ||, &&, |, ^, &, equality,
/// relational, shift, additive, multiplicative, unary).
struct DeriveParser {
    let chars: [Character]
    var pos = 0
    /// Open parentheses, calls, unary operators and `?:` branches around `pos`: the parser and
    /// every walk of the tree recurse per level, so `FeatureLimit.deriveNesting` bounds it.
    var depth = 0

    init(_ text: String) { chars = Array(text) }

    static let levels: [[String]] = [["||"], ["&&"], ["|"], ["^"], ["&"], ["==", "!="], ["<=", ">=", "<", ">"],
                                     ["<<", ">>"], ["+", "-"], ["*", "/", "%"]]

    func fail(_ message: String) -> DeriveSyntaxError { DeriveSyntaxError(message: message, offset: pos) }

    /// Enters one level of nesting; `depth -= 1` leaves it.
    mutating func enter() throws {
        depth += 1
        let limit = FeatureLimit.deriveNesting
        if depth > limit.maximum { throw fail("nested more than \(limit.maximum) deep (limit: \(limit.name))") }
    }

    mutating func skipSpace() { while pos < chars.count, chars[pos].isWhitespace { pos += 1 } }

    /// Consumes `token` if it comes next (and is not the start of a longer operator).
    mutating func take(_ token: String) -> Bool {
        skipSpace()
        let t = Array(token)
        guard pos + t.count <= chars.count, Array(chars[pos..<(pos + t.count)]) == t else { return false }
        // `|` must not eat the first half of `||`, `<` not of `<<` or `<=`, and so on
        if t.count == 1, pos + 1 < chars.count {
            let next = chars[pos + 1]
            switch t[0] {
            case "|", "&": if next == t[0] { return false }
            case "<", ">": if next == t[0] || next == "=" { return false }
            case "!", "=": if next == "=" && t[0] == "!" { return false }
            default: break
            }
        }
        pos += t.count
        return true
    }

    mutating func expectEnd() throws {
        skipSpace()
        if pos < chars.count { throw fail("unexpected '\(chars[pos])'") }
    }

    mutating func expression() throws -> DeriveExpression {
        let condition = try binary(0)
        guard take("?") else { return condition }
        try enter()
        defer { depth -= 1 }
        let a = try expression()
        guard take(":") else { throw fail("expected ':' of a conditional") }
        let b = try expression()
        return .conditional(condition, a, b)
    }

    mutating func binary(_ level: Int) throws -> DeriveExpression {
        guard level < Self.levels.count else { return try unary() }
        var lhs = try binary(level + 1)
        while true {
            guard let op = Self.levels[level].first(where: { take($0) }) else { return lhs }
            lhs = .binary(op, lhs, try binary(level + 1))
        }
    }

    mutating func unary() throws -> DeriveExpression {
        for op in ["!", "~"] where take(op) {
            try enter()
            defer { depth -= 1 }
            return .unary(op, try unary())
        }
        return try primary()
    }

    mutating func primary() throws -> DeriveExpression {
        skipSpace()
        guard pos < chars.count else { throw fail("expression ends early") }
        if take("(") {
            try enter()
            defer { depth -= 1 }
            let e = try expression()
            guard take(")") else { throw fail("expected ')'") }
            return e
        }
        let c = chars[pos]
        if c.isASCII && c.isNumber { return .number(try number()) }
        guard c == "_" || (c.isASCII && c.isLetter) else { throw fail("unexpected '\(c)'") }
        let name = identifier()
        if name == "absent" { return .absent }
        if name == "peer" {
            guard take(".") else { throw fail("expected '.' after peer") }
            skipSpace()
            guard pos < chars.count, chars[pos] == "_" || (chars[pos].isASCII && chars[pos].isLetter) else {
                throw fail("expected a field name after 'peer.'")
            }
            return .field(identifier(), peer: true)
        }
        if name == "min" || name == "max" {
            guard take("(") else { throw fail("expected '(' after \(name)") }
            try enter()
            defer { depth -= 1 }
            var args = [try expression()]
            while take(",") { args.append(try expression()) }
            guard take(")") else { throw fail("expected ')' closing \(name)(...)") }
            return .call(name, args)
        }
        // a real function only when called: a field may still be named `mean`
        if let arity = ["mean": 2, "stddev": 3][name], take("(") {
            try enter()
            defer { depth -= 1 }
            var args = [try expression()]
            while take(",") { args.append(try expression()) }
            guard take(")") else { throw fail("expected ')' closing \(name)(...)") }
            guard args.count == arity else {
                throw fail("\(name)(...) takes \(arity) arguments (\(name == "mean" ? "sum, count" : "sum, sum of squares, count")), not \(args.count)")
            }
            return .call(name, args)
        }
        return .field(name, peer: false)
    }

    mutating func identifier() -> String {
        let start = pos
        while pos < chars.count, chars[pos] == "_" || (chars[pos].isASCII && (chars[pos].isLetter || chars[pos].isNumber)) { pos += 1 }
        return String(chars[start..<pos])
    }

    mutating func number() throws -> UInt64 {
        let start = pos
        while pos < chars.count, chars[pos].isASCII && (chars[pos].isHexDigit || chars[pos] == "x" || chars[pos] == "X") { pos += 1 }
        let text = String(chars[start..<pos])
        let lower = text.lowercased()
        let value = lower.hasPrefix("0x") ? UInt64(lower.dropFirst(2), radix: 16) : UInt64(text, radix: 10)
        guard let v = value else {
            pos = start
            throw fail("'\(text)' is not a number")
        }
        return v
    }
}
