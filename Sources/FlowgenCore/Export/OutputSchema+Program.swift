/// The columns of an `OutputSchema` compiled to plain data. `Source` carries enum payloads (and a
/// reference-counted expression), so walking it per column and flow costs copies and retains; an
/// `Op` is a trivial struct the formatters read straight from a buffer, which is what lets JSON and
/// CSV output run at well under a microsecond per flow.
extension OutputSchema {
    /// What a compiled column reads.
    enum OpKind: UInt8, Sendable {
        /// The text columns, as in `Source`; first, so that `isText` is one comparison. A sequence
        /// array is written by the formatter too (brackets and signed numbers).
        case src4, dst4, src6, dst6, sequence, endReason
        /// Numeric key and metadata columns, as in `Source`.
        case flowID, sport, dport, proto, ipVersion, icmpType, duration
        /// A stored field of the initiator's direction.
        case forward
        /// A stored field of the responder's direction.
        case reverse
        /// A stored field of both directions, combined.
        case combined
        /// A derived field evaluated for the initiator's direction.
        case derivedForward
        /// A derived field evaluated for the responder's direction.
        case derivedReverse
        /// A derived field of both directions, combined.
        case derivedCombined

        /// An address or the end reason (written by the formatter), not a number: one comparison
        /// rather than a second jump table in the writers' per-column loop.
        @inline(__always)
        var isText: Bool { rawValue <= OpKind.endReason.rawValue }
    }

    /// How two directions' values combine (`Aggregation.combine` without the payload).
    enum Combine: UInt8, Sendable {
        case sum, min, max, or

        init(_ aggregation: Aggregation) {
            switch aggregation {
            case .sum, .histogram: self = .sum
            case .min, .first: self = .min
            case .max, .last: self = .max
            case .or: self = .or
            }
        }

        @inline(__always)
        func callAsFunction(_ a: UInt64, _ b: UInt64) -> UInt64 {
            switch self {
            case .sum: return a &+ b
            case .min: return Swift.min(a, b)
            case .max: return Swift.max(a, b)
            case .or: return a | b
            }
        }
    }

    /// One column as plain data.
    struct Op: Sendable {
        /// What it reads.
        var kind: OpKind
        /// How directions combine (combined columns).
        var combine: Combine = .sum
        /// A reverse column of a one-way flow shows 0 (counts) rather than nothing (min/max/first/last).
        var zeroWhenOneWay = false
        /// The value is a record timestamp, shown as epoch microseconds.
        var timestamp = false
        /// The value is the bits of a Double (a real-valued derived field), shown as a decimal fraction.
        var real = false
        /// How a stored field's value is read: no-sample state, one-way flows, times.
        var read = SampleRead()
        /// Decoder column of a stored field, index into `derivedPrograms` of a derived one, first_seen of the duration.
        var column = 0
        /// last_seen of the duration.
        var column2 = 0
    }

    /// The ops, derived expressions and sequences of `columns`.
    static func compile(_ columns: [Column], firstSeen: Int?, lastSeen: Int?) -> ([Op], [CompiledDerive], [SequenceColumns]) {
        var expressions: [CompiledDerive] = []
        var sequences: [SequenceColumns] = []
        let ops = columns.map { column -> Op in
            switch column.source {
            case .flowID: return Op(kind: .flowID)
            case .src4: return Op(kind: .src4)
            case .dst4: return Op(kind: .dst4)
            case .src6: return Op(kind: .src6)
            case .dst6: return Op(kind: .dst6)
            case .sport: return Op(kind: .sport)
            case .dport: return Op(kind: .dport)
            case .proto: return Op(kind: .proto)
            case .ipVersion: return Op(kind: .ipVersion)
            case .icmpType: return Op(kind: .icmpType)
            case .endReason: return Op(kind: .endReason)
            case .duration:
                // the schema adds this column only when both timestamps exist
                return Op(kind: .duration, column: firstSeen ?? 0, column2: lastSeen ?? 0)
            case let .field(c, direction, aggregation, unit, sample):
                let kind: OpKind = direction == .forward ? .forward : direction == .reverse ? .reverse : .combined
                let read = SampleRead(column: c, aggregation: aggregation, sample: sample)
                return Op(kind: kind, combine: Combine(aggregation), zeroWhenOneWay: read.zeroWhenOneWay, timestamp: unit == .timestamp,
                          read: read, column: c)
            case let .derived(expression, direction, aggregation, unit):
                let kind: OpKind = direction == .forward ? .derivedForward : direction == .reverse ? .derivedReverse : .derivedCombined
                let compiled = CompiledDerive(expression)
                expressions.append(compiled)
                return Op(kind: kind, combine: Combine(aggregation), timestamp: unit == .timestamp && !compiled.isReal,
                          real: compiled.isReal, column: expressions.count - 1)
            case let .sequence(resolved, part):
                if let i = sequences.firstIndex(of: resolved) {
                    return Op(kind: .sequence, column: i, column2: part)
                }
                sequences.append(resolved)
                return Op(kind: .sequence, column: sequences.count - 1, column2: part)
            }
        }
        return (ops, expressions, sequences)
    }

    /// Calls `body` with the flow's fields (`reverse` nil: a one-way flow), after checking once that
    /// both directions hold every column the ops read.
    @inline(__always)
    func withFields<R>(of flow: Biflow, _ body: (BiflowFields) -> R) -> R {
        precondition(flow.forward.values.count >= valueCount && (flow.reverse?.values.count ?? valueCount) >= valueCount,
                     "a record has fewer values than the schema's plan")
        return flow.withFields(body)
    }

    /// The number a numeric op shows for a flow, nil when absent (left out of JSON, empty in CSV).
    @inline(__always)
    func number(_ op: Op, _ flow: BiflowFields, _ offset: Int64) -> UInt64? {
        let fv = flow.forward, rv = flow.reverse
        switch op.kind {
        case .flowID: return flow.id
        case .sport: return UInt64(flow.key.sport)
        case .dport: return UInt64(flow.key.dport)
        case .proto: return UInt64(flow.key.proto)
        case .ipVersion: return UInt64(flow.key.ipVersion)
        case .icmpType:
            let key = flow.key
            return key.isICMP ? UInt64(key.dport) : nil
        case .duration:
            let first = Swift.min(fv[op.column], rv?[op.column] ?? .max)
            let last = Swift.max(fv[op.column2], rv?[op.column2] ?? 0)
            // from the exported µs values, so DURATION = END - START exactly
            let start = (Int64(bitPattern: first) &+ offset) / 1000, end = (Int64(bitPattern: last) &+ offset) / 1000
            return end >= start ? UInt64(end - start) : 0
        case .forward:
            return op.read.value(.forward, fv, rv).map { Self.shown($0, op.timestamp, offset) }
        case .reverse:
            return op.read.value(.reverse, fv, rv).map { Self.shown($0, op.timestamp, offset) }
        case .combined:
            return op.read.value(.combined, fv, rv).map { Self.shown($0, op.timestamp, offset) }
        case .derivedForward, .derivedReverse, .derivedCombined:
            return derived(op, fv, rv, offset)
        case .src4, .dst4, .src6, .dst6, .sequence, .endReason:
            return nil
        }
    }

    /// A derived column's number.
    func derived(_ op: Op, _ fwd: UnsafeBufferPointer<UInt64>, _ rev: UnsafeBufferPointer<UInt64>?, _ offset: Int64) -> UInt64? {
        let result: UInt64?
        switch op.kind {
        case .derivedForward: result = derivedPrograms.evaluate(op.column, own: fwd, peer: rev)
        case .derivedReverse: result = rev.flatMap { derivedPrograms.evaluate(op.column, own: $0, peer: fwd) }
        default:
            let a = derivedPrograms.evaluate(op.column, own: fwd, peer: rev), b = rev.flatMap { derivedPrograms.evaluate(op.column, own: $0, peer: fwd) }
            result = a.map { x in b.map { op.combine(x, $0) } ?? x } ?? b
        }
        return result.map { Self.shown($0, op.timestamp, offset) }
    }

    /// One array of a sequence column (`Op.column2`: 0 direction, 1 size, 2 gap ms) for a flow.
    func sequence(_ op: Op, _ flow: BiflowFields) -> [Int64] {
        let length = sequenceColumns[op.column].length
        return withUnsafeTemporaryAllocation(of: Int64.self, capacity: 3 * length) { merged in
            mergeSequence(op.column, flow, into: merged.baseAddress!)
            return Array(merged[(op.column2 * length)..<((op.column2 + 1) * length)])
        }
    }

    /// The three merged arrays of sequence `column` of `flow` (`SequenceField.merge`) into `out`
    /// (3 × its length values: directions, sizes, gaps), read in place from the flow's values.
    @inline(__always)
    func mergeSequence(_ column: Int, _ flow: BiflowFields, into out: UnsafeMutablePointer<Int64>) {
        let c = sequenceColumns[column]
        func slots(_ v: UnsafeBufferPointer<UInt64>?) -> SequenceField.SlotPointers? {
            guard let v, let base = v.baseAddress, c.count < v.count, c.time + c.length <= v.count, c.size + c.length <= v.count,
                  c.order + c.length <= v.count else { return nil }
            return SequenceField.SlotPointers(count: v[c.count], time: base + c.time, size: base + c.size, order: base + c.order,
                                              available: c.length)
        }
        let forward = slots(flow.forward)
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 1) { zero in
            zero[0] = 0
            let empty = SequenceField.SlotPointers(count: 0, time: UnsafePointer(zero.baseAddress!), size: UnsafePointer(zero.baseAddress!),
                                                   order: UnsafePointer(zero.baseAddress!), available: 0)
            SequenceField.merge(length: c.length, forward: forward ?? empty, reverse: slots(flow.reverse), into: out)
        }
    }

    /// A raw value as output: timestamps become epoch µs.
    @inline(__always)
    static func shown(_ raw: UInt64, _ timestamp: Bool, _ offset: Int64) -> UInt64 {
        guard timestamp else { return raw }
        let epoch = Int64(bitPattern: raw) &+ offset
        return epoch > 0 ? UInt64(epoch) / 1000 : 0
    }
}
