/// A resolved `DeriveExpression` turned into nested closures once, at schema build time, so that
/// evaluating it for every exported flow neither compares operator strings nor allocates (the
/// tree walk of `evaluate` builds an array for every `min`/`max`). Same results as `evaluate`.
struct CompiledDerive: Sendable {
    /// One direction's values.
    typealias Values = UnsafeBufferPointer<UInt64>
    typealias Function = @Sendable (Values, Values?) -> UInt64?

    let function: Function

    /// Compiles a resolved expression (unresolved field names evaluate to absent, as in `evaluate`).
    init(_ expression: DeriveExpression) {
        function = Self.compile(expression)
    }

    /// The value over one direction's values and the other's (nil: a one-way flow); nil is absent.
    @inline(__always)
    func evaluate(own: Values, peer: Values?) -> UInt64? { function(own, peer) }

    /// The binary operators that propagate absent, as a trivial enum the closures switch on.
    enum Arithmetic {
        case or, xor, and, eq, ne, lt, le, gt, ge, shl, shr, add, sub, mul, div, rem

        init?(_ op: String) {
            switch op {
            case "|": self = .or
            case "^": self = .xor
            case "&": self = .and
            case "==": self = .eq
            case "!=": self = .ne
            case "<": self = .lt
            case "<=": self = .le
            case ">": self = .gt
            case ">=": self = .ge
            case "<<": self = .shl
            case ">>": self = .shr
            case "+": self = .add
            case "-": self = .sub
            case "*": self = .mul
            case "/": self = .div
            case "%": self = .rem
            default: return nil
            }
        }

        /// `DeriveExpression.apply` for this operator.
        @inline(__always)
        func apply(_ x: UInt64, _ y: UInt64) -> UInt64? {
            switch self {
            case .or: return x | y
            case .xor: return x ^ y
            case .and: return x & y
            case .eq: return x == y ? 1 : 0
            case .ne: return x != y ? 1 : 0
            case .lt: return x < y ? 1 : 0
            case .le: return x <= y ? 1 : 0
            case .gt: return x > y ? 1 : 0
            case .ge: return x >= y ? 1 : 0
            case .shl: return y >= 64 ? 0 : x << y
            case .shr: return y >= 64 ? 0 : x >> y
            case .add: return x &+ y
            case .sub: return x &- y
            case .mul: return x &* y
            case .div: return y == 0 ? nil : x / y
            case .rem: return y == 0 ? nil : x % y
            }
        }
    }

    static func compile(_ expression: DeriveExpression) -> Function {
        switch expression {
        case let .number(n):
            return { _, _ in n }
        case .absent, .field:
            return { _, _ in nil }
        case let .column(c, isPeer):
            if isPeer {
                return { _, peer in
                    guard let peer, c >= 0, c < peer.count else { return nil }
                    return peer[c]
                }
            }
            return { own, _ in c >= 0 && c < own.count ? own[c] : nil }
        case let .unary(op, a):
            let fa = compile(a)
            if op == "!" { return { o, p in (fa(o, p) ?? 0) == 0 ? 1 : 0 } }
            return { o, p in fa(o, p).map { ~$0 } }
        case let .binary(op, a, b):
            let fa = compile(a), fb = compile(b)
            switch op {
            case "&&":
                return { o, p in
                    guard let x = fa(o, p), x != 0 else { return 0 }
                    return (fb(o, p) ?? 0) != 0 ? 1 : 0
                }
            case "||":
                return { o, p in
                    if let x = fa(o, p), x != 0 { return 1 }
                    return (fb(o, p) ?? 0) != 0 ? 1 : 0
                }
            default:
                // an unknown operator is absent, as in `apply` (operands have no side effects to keep)
                guard let arithmetic = Arithmetic(op) else { return { _, _ in nil } }
                return { o, p in
                    guard let x = fa(o, p), let y = fb(o, p) else { return nil }
                    return arithmetic.apply(x, y)
                }
            }
        case let .conditional(c, a, b):
            let fc = compile(c), fa = compile(a), fb = compile(b)
            return { o, p in (fc(o, p) ?? 0) != 0 ? fa(o, p) : fb(o, p) }
        case let .call(name, args):
            let fs = args.map(compile)
            let isMin = name == "min"
            return { o, p in
                var best: UInt64?
                for f in fs {
                    guard let v = f(o, p) else { continue }
                    if let b = best { best = isMin ? Swift.min(b, v) : Swift.max(b, v) } else { best = v }
                }
                return best
            }
        }
    }
}
