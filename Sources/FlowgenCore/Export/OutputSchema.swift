/// The columns of exported flows, derived from the plan: fixed key columns, every selected
/// field per direction under its declared names, then duration and end reason.
public struct OutputSchema: Sendable {
    /// One output value.
    public enum Value: Sendable, Equatable {
        /// An unsigned number.
        case number(UInt64)
        /// Text (addresses, end reason).
        case text(String)
        /// Not applicable to this flow (omitted in JSON, empty in CSV).
        case absent
    }

    /// What a column shows.
    public enum Source: Sendable, Equatable {
        case flowID, src4, dst4, src6, dst6, sport, dport, proto, ipVersion, icmpType, duration, endReason
        /// A field element in one direction: decoder column, which direction, aggregation and unit.
        case field(column: Int, direction: Direction, aggregation: Aggregation, unit: FieldUnit, none: UInt64?)
        /// A derived field (`derive:`, resolved to decoder columns) evaluated for one direction.
        case derived(expression: DeriveExpression, direction: Direction, aggregation: Aggregation, unit: FieldUnit)
    }

    /// Which side of a biflow a field column reads.
    public enum Direction: Sendable, Equatable {
        /// Initiator → responder.
        case forward
        /// Responder → initiator.
        case reverse
        /// Both, combined by the field's aggregation.
        case combined
    }

    /// A named column.
    public struct Column: Sendable, Equatable {
        /// Output name (nProbe-style, e.g. IN_BYTES).
        public var name: String
        /// Where its value comes from.
        public var source: Source
    }

    /// Columns in output order.
    public let columns: [Column]

    /// Builds the schema of a plan.
    public init(plan: Plan) {
        let decoder = RecordDecoder(plan: plan)
        var cols: [Column] = [
            Column(name: "FLOW_ID", source: .flowID),
            Column(name: "IPV4_SRC_ADDR", source: .src4), Column(name: "IPV4_DST_ADDR", source: .dst4),
            Column(name: "IPV6_SRC_ADDR", source: .src6), Column(name: "IPV6_DST_ADDR", source: .dst6),
            Column(name: "L4_SRC_PORT", source: .sport), Column(name: "L4_DST_PORT", source: .dport),
            Column(name: "PROTOCOL", source: .proto), Column(name: "IP_PROTOCOL_VERSION", source: .ipVersion),
        ]
        if plan.defines.contains("FG_WITH_ICMP_KEY") { cols.append(Column(name: "ICMP_TYPE", source: .icmpType)) }
        for module in plan.features {
            for field in module.fields {
                guard let first = decoder.firstColumn[field.name] else { continue }
                for (names, direction) in [(field.json.forward, Direction.forward), (field.json.reverse, .reverse), (field.json.combined, .combined)] {
                    for (element, name) in names.enumerated() {
                        cols.append(Column(name: name, source: .field(column: first + element, direction: direction,
                                                                      aggregation: field.aggregation, unit: field.unit, none: field.none)))
                    }
                }
            }
            for field in module.derived {
                guard let expression = field.expression.resolved({ decoder.firstColumn[$0] }) else { continue }
                for (names, direction) in [(field.json.forward, Direction.forward), (field.json.reverse, .reverse), (field.json.combined, .combined)] {
                    for name in names {
                        cols.append(Column(name: name, source: .derived(expression: expression, direction: direction,
                                                                        aggregation: field.aggregation, unit: field.unit)))
                    }
                }
            }
        }
        if decoder.firstColumn["first_seen"] != nil && decoder.firstColumn["last_seen"] != nil {
            cols.append(Column(name: "FLOW_DURATION_MICROSECONDS", source: .duration))
        }
        cols.append(Column(name: "FLOW_END_REASON", source: .endReason))
        columns = cols
        firstSeen = decoder.firstColumn["first_seen"]
        lastSeen = decoder.firstColumn["last_seen"]
    }

    let firstSeen: Int?
    let lastSeen: Int?

    /// The values of one biflow, in column order. `epochOffsetNs` turns record timestamps into
    /// Unix time (realtime − monotonic for live capture, 0 for replayed capture time).
    public func values(of flow: Biflow, epochOffsetNs: Int64) -> [Value] {
        columns.map { value($0.source, flow, epochOffsetNs) }
    }

    func value(_ source: Source, _ flow: Biflow, _ offset: Int64) -> Value {
        let key = flow.forward.key
        let v4 = key.ipVersion == 4
        switch source {
        case .flowID: return .number(flow.id)
        case .src4: return v4 ? .text(key.src.description) : .absent
        case .dst4: return v4 ? .text(key.dst.description) : .absent
        case .src6: return v4 ? .absent : .text(key.src.description)
        case .dst6: return v4 ? .absent : .text(key.dst.description)
        case .sport: return .number(UInt64(key.sport))
        case .dport: return .number(UInt64(key.dport))
        case .proto: return .number(UInt64(key.proto))
        case .ipVersion: return .number(UInt64(key.ipVersion))
        case .icmpType: return key.isICMP ? .number(UInt64(key.dport)) : .absent
        case .endReason: return .text(flow.endReason.name)
        case .duration:
            guard let f = firstSeen, let l = lastSeen else { return .absent }
            let first = min(flow.forward.values[f], flow.reverse?.values[f] ?? .max)
            let last = max(flow.forward.values[l], flow.reverse?.values[l] ?? 0)
            // from the exported µs values, so DURATION = END - START exactly
            let start = (Int64(bitPattern: first) &+ offset) / 1000, end = (Int64(bitPattern: last) &+ offset) / 1000
            return .number(end >= start ? UInt64(end - start) : 0)
        case let .field(column, direction, aggregation, unit, none):
            let raw: UInt64
            // a direction whose value still means "no sample" does not take part
            let fwd: UInt64? = flow.forward.values[column] == none ? nil : flow.forward.values[column]
            let rev: UInt64? = flow.reverse.flatMap { $0.values[column] == none ? nil : $0.values[column] }
            switch direction {
            case .forward:
                guard let f = fwd else { return .absent }
                raw = f
            case .reverse:
                guard flow.reverse != nil else {
                    // a one-way flow has zero counts backwards, and no min/max/first/last at all
                    switch aggregation {
                    case .sum, .or, .histogram: return .number(0)
                    default: return .absent
                    }
                }
                guard let v = rev else { return .absent }
                raw = v
            case .combined:
                switch (fwd, rev) {
                case let (f?, r?): raw = aggregation.combine(f, r)
                case let (f?, nil): raw = f
                case let (nil, r?): raw = r
                case (nil, nil): return .absent
                }
            }
            return Self.number(raw, unit, offset)
        case let .derived(expression, direction, aggregation, unit):
            let fwd = flow.forward.values, rev = flow.reverse?.values
            let result: UInt64?
            switch direction {
            case .forward: result = expression.evaluate(own: fwd, peer: rev)
            case .reverse: result = rev.flatMap { expression.evaluate(own: $0, peer: fwd) }
            case .combined:
                let a = expression.evaluate(own: fwd, peer: rev), b = rev.flatMap { expression.evaluate(own: $0, peer: fwd) }
                result = a.map { x in b.map { aggregation.combine(x, $0) } ?? x } ?? b
            }
            return result.map { Self.number($0, unit, offset) } ?? .absent
        }
    }

    /// A raw value as output: timestamps become epoch µs.
    static func number(_ raw: UInt64, _ unit: FieldUnit, _ offset: Int64) -> Value {
        if unit == .timestamp {
            let epoch = Int64(bitPattern: raw) &+ offset
            return .number(epoch > 0 ? UInt64(epoch) / 1000 : 0)
        }
        return .number(raw)
    }
}
