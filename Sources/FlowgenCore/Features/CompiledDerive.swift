/// A resolved `DeriveExpression` compiled once, at schema build time, to a flat postfix program
/// over a small value stack, so that evaluating it for every exported flow neither compares
/// operator strings nor allocates (the tree walk of `evaluate` builds an array for every
/// `min`/`max`) nor touches reference counts (as nested closures would). Same results as `evaluate`.
struct CompiledDerive: Sendable {
    /// One direction's values.
    typealias Values = UnsafeBufferPointer<UInt64>

    /// One step of the program.
    struct Instruction: Sendable {
        enum Code: UInt8, Sendable {
            /// Push `value`.
            case push
            /// Push absent.
            case absent
            /// Push own[`operand`], absent when out of range.
            case own
            /// Push peer[`operand`], absent for a one-way flow or out of range.
            case peer
            /// Pop x, push 1 when x is absent or 0, else 0 (`!`).
            case not
            /// Pop x, push ~x (absent stays absent).
            case complement
            /// Pop y and x, push x `arithmetic` y (absent if either is).
            case arithmetic
            /// Pop x, push x `arithmetic` `value` (absent if x is): `x op literal` in one step.
            case arithmeticValue
            /// Push own[`operand`] `arithmetic` `value` (absent when out of range): `field op literal`,
            /// the commonest shape (flag tests), in one step.
            case ownArithmeticValue
            /// Pop x; absent or 0: push 0 and jump to `operand` (`&&` is false), else go on.
            case andTest
            /// Pop x; present and not 0: push 1 and jump to `operand` (`||` is true), else go on.
            case orTest
            /// Pop x, push 1 when present and not 0, else 0.
            case truthy
            /// Pop x; absent or 0: jump to `operand` (the `:` branch of `?:`).
            case jumpIfFalse
            /// Jump to `operand`.
            case jump
            /// Pop `operand` values, push the smallest present one (absent if none).
            case min
            /// Pop `operand` values, push the largest present one (absent if none).
            case max
            /// Pop n and s, push the bits of s/n as a Double (absent if n = 0 or either is absent).
            case mean
            /// Pop n, q and s, push the bits of their sample standard deviation (`DeriveExpression.stddev`).
            case stddev
            /// Pop x, push the bits of Double(x) (absent stays absent): an integer branch of a real `?:`.
            case toReal
        }

        var code: Code
        var operand = 0
        var value: UInt64 = 0
        /// The operator of `.arithmetic`.
        var arithmetic: Arithmetic = .unknown
    }

    let program: [Instruction]
    /// The most values on the stack at once.
    let depth: Int
    /// Whether the result is the bits of a Double (`mean`, `stddev`) rather than an integer.
    let isReal: Bool

    /// Compiles a resolved expression (unresolved field names evaluate to absent, as in `evaluate`).
    init(_ expression: DeriveExpression) {
        var program: [Instruction] = []
        var depth = 0, maxDepth = 0
        func emit(_ i: Instruction, _ change: Int) {
            program.append(i)
            depth += change
            maxDepth = Swift.max(maxDepth, depth)
        }
        func compile(_ e: DeriveExpression) {
            switch e {
            case let .number(n): emit(Instruction(code: .push, value: n), 1)
            case .absent, .field: emit(Instruction(code: .absent), 1)
            case let .column(c, isPeer): emit(Instruction(code: isPeer ? .peer : .own, operand: c), 1)
            case let .unary(op, a):
                compile(a)
                emit(Instruction(code: op == "!" ? .not : .complement), 0)
            case let .binary(op, a, b):
                switch op {
                case "&&", "||":
                    compile(a)
                    let test = program.count
                    emit(Instruction(code: op == "&&" ? .andTest : .orTest), -1)
                    compile(b)
                    emit(Instruction(code: .truthy), 0)
                    program[test].operand = program.count
                default:
                    // an unknown operator is absent, as in `apply`
                    let arithmetic = Arithmetic(op) ?? .unknown
                    // a literal right operand (and an own field left of it) folds into one instruction;
                    // only for leaves, so that no jump lands inside what is folded
                    if case let .number(n) = b {
                        if case let .column(c, false) = a {
                            emit(Instruction(code: .ownArithmeticValue, operand: c, value: n, arithmetic: arithmetic), 1)
                        } else {
                            compile(a)
                            emit(Instruction(code: .arithmeticValue, value: n, arithmetic: arithmetic), 0)
                        }
                    } else {
                        compile(a)
                        compile(b)
                        emit(Instruction(code: .arithmetic, arithmetic: arithmetic), -1)
                    }
                }
            case let .conditional(c, a, b):
                compile(c)
                let test = program.count
                emit(Instruction(code: .jumpIfFalse), -1)
                compile(a)
                // both branches of a real conditional leave a real
                if e.isReal && !a.isReal { emit(Instruction(code: .toReal), 0) }
                let skip = program.count
                emit(Instruction(code: .jump), -1) // the `:` branch pushes the one result instead
                program[test].operand = program.count
                compile(b)
                if e.isReal && !b.isReal { emit(Instruction(code: .toReal), 0) }
                program[skip].operand = program.count
            case let .call(name, args):
                for arg in args { compile(arg) }
                let code: Instruction.Code = name == "min" ? .min : name == "max" ? .max : name == "mean" ? .mean : .stddev
                emit(Instruction(code: code, operand: args.count), 1 - args.count)
            }
        }
        compile(expression)
        self.program = program
        self.depth = maxDepth
        isReal = expression.isReal
    }

    /// The value over one direction's values and the other's (nil: a one-way flow); nil is absent.
    func evaluate(own: Values, peer: Values?) -> UInt64? {
        program.withUnsafeBufferPointer { Self.evaluate($0, depth: depth, own: own, peer: peer) }
    }

    /// `evaluate` of a program held elsewhere (`DerivedPrograms`).
    @inline(__always)
    static func evaluate(_ program: UnsafeBufferPointer<Instruction>, depth: Int, own: Values, peer: Values?) -> UInt64? {
        // one stack block: the values, then whether each is present
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * depth) { stack in
            run(program, own, peer, stack.baseAddress!, UnsafeMutableRawPointer(stack.baseAddress! + depth).bindMemory(to: Bool.self, capacity: depth))
        }
    }

    @inline(__always)
    static func run(_ program: UnsafeBufferPointer<Instruction>, _ own: Values, _ peer: Values?,
             _ values: UnsafeMutablePointer<UInt64>, _ present: UnsafeMutablePointer<Bool>) -> UInt64? {
        var top = 0 // values on the stack
        var pc = 0
        @inline(__always) func push(_ v: UInt64, _ p: Bool) {
            values[top] = v
            present[top] = p
            top += 1
        }
        while pc < program.count {
            let i = program[pc]
            pc += 1
            switch i.code {
            case .push: push(i.value, true)
            case .absent: push(0, false)
            case .own:
                let c = i.operand
                if c >= 0 && c < own.count { push(own[c], true) } else { push(0, false) }
            case .peer:
                let c = i.operand
                if let peer, c >= 0, c < peer.count { push(peer[c], true) } else { push(0, false) }
            case .not:
                let t = top - 1
                values[t] = present[t] && values[t] != 0 ? 0 : 1
                present[t] = true
            case .complement:
                values[top - 1] = ~values[top - 1]
            case .arithmetic:
                top -= 1
                let x = top - 1
                if present[x] && present[top], let r = i.arithmetic.apply(values[x], values[top]) {
                    values[x] = r
                } else {
                    present[x] = false
                }
            case .arithmeticValue:
                let x = top - 1
                if present[x], let r = i.arithmetic.apply(values[x], i.value) { values[x] = r } else { present[x] = false }
            case .ownArithmeticValue:
                let c = i.operand
                if c >= 0 && c < own.count, let r = i.arithmetic.apply(own[c], i.value) { push(r, true) } else { push(0, false) }
            case .andTest:
                top -= 1
                if !present[top] || values[top] == 0 {
                    push(0, true)
                    pc = i.operand
                }
            case .orTest:
                top -= 1
                if present[top] && values[top] != 0 {
                    push(1, true)
                    pc = i.operand
                }
            case .truthy:
                let t = top - 1
                values[t] = present[t] && values[t] != 0 ? 1 : 0
                present[t] = true
            case .jumpIfFalse:
                top -= 1
                if !present[top] || values[top] == 0 { pc = i.operand }
            case .jump:
                pc = i.operand
            case .min, .max:
                let n = i.operand
                top -= n
                var best: UInt64 = 0, found = false
                for k in top..<(top + n) where present[k] {
                    best = !found ? values[k] : i.code == .min ? Swift.min(best, values[k]) : Swift.max(best, values[k])
                    found = true
                }
                push(best, found)
            case .mean, .stddev:
                let n = i.operand
                top -= n
                var all = true
                for k in top..<(top + n) where !present[k] { all = false }
                let r = !all ? nil : i.code == .mean ? DeriveExpression.mean(values[top], values[top + 1])
                    : DeriveExpression.stddev(values[top], values[top + 1], values[top + 2])
                push(r ?? 0, r != nil)
            case .toReal:
                let t = top - 1
                if present[t] { values[t] = DeriveExpression.real(values[t]) }
            }
        }
        return present[0] ? values[0] : nil
    }

    /// The binary operators that propagate absent, as a trivial enum the closures switch on.
    enum Arithmetic: UInt8, Sendable {
        case or, xor, and, eq, ne, lt, le, gt, ge, shl, shr, add, sub, mul, div, rem
        /// An operator the language does not have: always absent.
        case unknown

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
            case .unknown: return nil
            }
        }
    }
}

/// Derived expressions' programs laid end to end, evaluated where they are: copying a
/// `CompiledDerive` out of an array retains and releases its program, which output formats paid
/// for every derived cell of every flow (~4% of the nfstream preset's replay).
struct DerivedPrograms: Sendable {
    /// Where one program is in `code`, and the stack it needs.
    private struct Span: Sendable {
        var start: Int
        var count: Int
        var depth: Int
    }

    private let code: [CompiledDerive.Instruction]
    private let spans: [Span]

    /// The programs of `expressions`, evaluated by their index in it.
    init(_ expressions: [CompiledDerive]) {
        var code: [CompiledDerive.Instruction] = []
        spans = expressions.map { expression in
            defer { code += expression.program }
            return Span(start: code.count, count: expression.program.count, depth: expression.depth)
        }
        self.code = code
    }

    /// Expression `index`'s value over one direction's values and the other's (`CompiledDerive.evaluate`).
    @inline(__always)
    func evaluate(_ index: Int, own: CompiledDerive.Values, peer: CompiledDerive.Values?) -> UInt64? {
        let span = spans[index]
        return code.withUnsafeBufferPointer { code in
            CompiledDerive.evaluate(UnsafeBufferPointer(rebasing: code[span.start..<(span.start + span.count)]),
                                    depth: span.depth, own: own, peer: peer)
        }
    }
}
