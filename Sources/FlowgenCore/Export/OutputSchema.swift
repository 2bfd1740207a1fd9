/// The columns of exported flows, derived from the plan: fixed key columns, every selected
/// field per direction under its declared names, then duration and end reason.
public struct OutputSchema: Sendable {
    /// One output value.
    public enum Value: Sendable, Equatable {
        /// An unsigned number.
        case number(UInt64)
        /// A real number (`mean`, `stddev`).
        case real(Double)
        /// A list of integers (`sequence:`: direction, size or gap per packet, -1 padded).
        case list([Int64])
        /// Text (addresses, end reason).
        case text(String)
        /// Not applicable to this flow (omitted in JSON, empty in CSV).
        case absent
    }

    /// What a column shows.
    public enum Source: Sendable, Equatable {
        case flowID, src4, dst4, src6, dst6, sport, dport, proto, ipVersion, icmpType, duration, endReason
        /// A field element in one direction: decoder column, which direction, aggregation, unit, and
        /// where its "no sample" state and value time are kept.
        case field(column: Int, direction: Direction, aggregation: Aggregation, unit: FieldUnit, sample: FieldSample)
        /// A derived field (`derive:`, resolved to decoder columns) evaluated for one direction.
        case derived(expression: DeriveExpression, direction: Direction, aggregation: Aggregation, unit: FieldUnit)
        /// One array (`part` 0: direction, 1: size, 2: gap) of a sequence over both directions.
        case sequence(SequenceColumns, part: Int)
    }

    /// A sequence field resolved to decoder columns: the count, and the first column of each array.
    public struct SequenceColumns: Sendable, Equatable {
        /// Packets kept.
        public var length: Int
        /// Column of the claimed-slot count.
        public var count: Int
        /// First column of the times.
        public var time: Int
        /// First column of the sizes.
        public var size: Int
        /// First column of the orders.
        public var order: Int
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
        let sampling = FieldSampling(modules: plan.features)
        var cols = Self.keyColumns
        if plan.defines.contains("FG_WITH_ICMP_KEY") { cols.append(Self.icmpTypeColumn) }
        for module in plan.features {
            for field in module.fields {
                guard let first = decoder.firstColumn[field.name] else { continue }
                let sample = FieldSample.of(field, decoder: decoder, sampling: sampling)
                for (names, direction) in [(field.json.forward, Direction.forward), (field.json.reverse, .reverse), (field.json.combined, .combined)] {
                    for (element, name) in names.enumerated() {
                        cols.append(Column(name: name, source: .field(column: first + element, direction: direction,
                                                                      aggregation: field.aggregation, unit: field.unit, sample: sample)))
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
            for field in module.sequences {
                guard let count = decoder.firstColumn[field.count], let time = decoder.firstColumn[field.time],
                      let size = decoder.firstColumn[field.size], let order = decoder.firstColumn[field.order] else { continue }
                let columns = SequenceColumns(length: field.length, count: count, time: time, size: size, order: order)
                for (part, name) in field.json.forward.enumerated() {
                    cols.append(Column(name: name, source: .sequence(columns, part: part)))
                }
            }
        }
        if decoder.firstColumn["first_seen"] != nil && decoder.firstColumn["last_seen"] != nil {
            cols.append(Self.durationColumn)
        }
        cols.append(Self.endReasonColumn)
        columns = cols
        firstSeen = decoder.firstColumn["first_seen"]
        lastSeen = decoder.firstColumn["last_seen"]
        let expressions: [CompiledDerive]
        (ops, expressions, sequenceColumns) = Self.compile(cols, firstSeen: firstSeen, lastSeen: lastSeen)
        derivedPrograms = DerivedPrograms(expressions)
        valueCount = ops.reduce(0) { n, op in
            switch op.kind {
            case .forward, .reverse, .combined: return Swift.max(n, op.column + 1, op.read.bitColumn + 1, op.read.timeColumn + 1)
            case .duration: return Swift.max(n, op.column + 1, op.column2 + 1)
            default: return n
            }
        }
    }

    /// The key columns every line starts with.
    static let keyColumns: [Column] = [
        Column(name: "FLOW_ID", source: .flowID),
        Column(name: "IPV4_SRC_ADDR", source: .src4), Column(name: "IPV4_DST_ADDR", source: .dst4),
        Column(name: "IPV6_SRC_ADDR", source: .src6), Column(name: "IPV6_DST_ADDR", source: .dst6),
        Column(name: "L4_SRC_PORT", source: .sport), Column(name: "L4_DST_PORT", source: .dport),
        Column(name: "PROTOCOL", source: .proto), Column(name: "IP_PROTOCOL_VERSION", source: .ipVersion),
    ]
    /// The ICMP type and code, when a module keys ICMP flows by them (`FG_WITH_ICMP_KEY`).
    static let icmpTypeColumn = Column(name: "ICMP_TYPE", source: .icmpType)
    /// The duration, when the plan stores first_seen and last_seen.
    static let durationColumn = Column(name: "FLOW_DURATION_MICROSECONDS", source: .duration)
    /// Why the flow was exported; every line ends with it.
    static let endReasonColumn = Column(name: "FLOW_END_REASON", source: .endReason)

    /// Names of every column the schema writes itself rather than from a module's `json:`, whether
    /// or not a given plan has them: no module may take one, or a JSON line would hold a key twice.
    public static let builtInNames: [String] = (keyColumns + [icmpTypeColumn, durationColumn, endReasonColumn]).map(\.name)

    let firstSeen: Int?
    let lastSeen: Int?
    /// The columns compiled to plain data (`Op`), in column order: what every formatter evaluates.
    let ops: [Op]
    /// The programs of derived columns, indexed by `Op.column`.
    let derivedPrograms: DerivedPrograms
    /// The resolved sequences of sequence columns, indexed by `Op.column`.
    let sequenceColumns: [SequenceColumns]
    /// Values a record must have for the stored columns `ops` read; checked once per flow so the
    /// per-column reads can skip bounds checks.
    let valueCount: Int

    /// The values of one biflow, in column order. `epochOffsetNs` turns record timestamps into
    /// Unix time (realtime − monotonic for live capture, 0 for replayed capture time).
    public func values(of flow: Biflow, epochOffsetNs: Int64) -> [Value] {
        let key = flow.forward.key
        let v4 = key.ipVersion == 4
        return withFields(of: flow) { fields in
            ops.map { op in
                switch op.kind {
                case .src4: return v4 ? .text(key.src.description) : .absent
                case .dst4: return v4 ? .text(key.dst.description) : .absent
                case .src6: return v4 ? .absent : .text(key.src.description)
                case .dst6: return v4 ? .absent : .text(key.dst.description)
                case .endReason: return .text(flow.endReason.name)
                case .sequence: return .list(sequence(op, fields))
                default:
                    guard let v = number(op, fields, epochOffsetNs) else { return .absent }
                    return op.real ? .real(Double(bitPattern: v)) : .number(v)
                }
            }
        }
    }
}
