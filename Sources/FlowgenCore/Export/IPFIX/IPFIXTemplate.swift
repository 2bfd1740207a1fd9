/// A Template (RFC 7011 §3.4.1) and the encoder of its Data Records from biflows.
public struct IPFIXTemplate: Sendable, Equatable {
    /// Template id (≥ 256), also the id of the Data Sets it describes.
    public let id: UInt16
    /// Fields in record order.
    public let fields: [IPFIXTemplateField]
    /// The IP version of the flows it carries (4 or 6).
    public let ipVersion: UInt8
    /// Whether it carries reverse (RFC 5103) elements: flows with both directions seen.
    public let isBiflow: Bool
    /// Octets of one Data Record.
    public let recordLength: Int
    /// The fields compiled to plain data, in record order: what `write` runs per flow.
    let ops: [Op]
    /// The derived fields' programs, indexed by `Op.column`.
    let derivedPrograms: DerivedPrograms
    /// Values a record must have for the stored fields the ops read.
    let valueCount: Int

    /// Creates a template.
    public init(id: UInt16, fields: [IPFIXTemplateField], ipVersion: UInt8, isBiflow: Bool) {
        precondition(id >= FlowgenIPFIX.firstTemplateID, "template ids start at 256")
        self.id = id
        self.fields = fields
        self.ipVersion = ipVersion
        self.isBiflow = isBiflow
        self.recordLength = fields.reduce(0) { $0 + Int($1.specifier.length) }
        let expressions: [CompiledDerive]
        (ops, expressions) = Self.compile(fields)
        derivedPrograms = DerivedPrograms(expressions)
        valueCount = ops.reduce(0) { $1.kind == .field ? Swift.max($0, $1.column + 1, $1.read.bitColumn + 1, $1.read.timeColumn + 1) : $0 }
    }

    /// Templates are equal when their wire form and value sources are (the compiled ops follow from those).
    public static func == (a: IPFIXTemplate, b: IPFIXTemplate) -> Bool {
        a.id == b.id && a.fields == b.fields && a.ipVersion == b.ipVersion && a.isBiflow == b.isBiflow
    }

    /// Octets of the Template Record: id, field count, then every field specifier.
    public var templateRecordLength: Int { 4 + fields.reduce(0) { $0 + $1.specifier.encodedLength } }

    /// Appends the Template Record.
    public func encodeTemplateRecord(into out: inout [UInt8]) {
        out.appendBigEndian(id)
        out.appendBigEndian(UInt16(fields.count))
        for f in fields { f.specifier.encode(into: &out) }
    }

    /// The Data Record of a flow. `epochOffsetNs` turns record time into Unix time, as in `OutputSchema`.
    public func record(for flow: Biflow, epochOffsetNs: Int64) -> IPFIXDataRecord {
        withFields(of: flow) { record(for: $0, epochOffsetNs: epochOffsetNs) }
    }

    /// The Data Record of a flow's fields (which hold at least `valueCount` values per direction).
    @inline(__always)
    func record(for flow: BiflowFields, epochOffsetNs: Int64) -> IPFIXDataRecord {
        let bytes = [UInt8](unsafeUninitializedCapacity: recordLength) { buffer, count in
            write(flow, epochOffsetNs: epochOffsetNs, to: buffer.baseAddress!)
            count = recordLength
        }
        return IPFIXDataRecord(templateID: id, bytes: bytes)
    }

    /// Appends the Data Record of a flow, written in place.
    func encodeRecord(_ flow: Biflow, epochOffsetNs: Int64, into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: recordLength))
        withFields(of: flow) { fields in
            out.withUnsafeMutableBufferPointer { write(fields, epochOffsetNs: epochOffsetNs, to: $0.baseAddress! + start) }
        }
    }

    /// Calls `body` with the flow's fields after checking that both directions hold every value the
    /// ops read (once per flow, so the per-field reads can skip bounds checks).
    @inline(__always)
    func withFields<R>(of flow: Biflow, _ body: (BiflowFields) -> R) -> R {
        precondition(flow.forward.values.count >= valueCount && (flow.reverse?.values.count ?? valueCount) >= valueCount,
                     "a record has fewer values than the template's plan")
        return flow.withFields(body)
    }

    /// What a compiled field writes.
    enum OpKind: UInt8, Sendable {
        case sourceAddress, destinationAddress, sourcePort, destinationPort, protocolIdentifier, icmpTypeCode
        case flowEndReason, flowID, biflowDirection
        /// A stored field element (`IPFIXValueSource.field`).
        case field
        /// A derived field (`IPFIXValueSource.derived`).
        case derived
    }

    /// One field as plain data: walking `IPFIXTemplateField`s per flow copies their Strings and
    /// enum payloads, which cost more than encoding the values.
    struct Op: Sendable {
        var kind: OpKind
        /// Octets in the record.
        var length: Int
        /// Which direction a field reads.
        var direction: OutputSchema.Direction = .forward
        /// How directions combine.
        var combine: OutputSchema.Combine = .sum
        /// The value is a record timestamp, converted to `type`.
        var timestamp = false
        /// The element's type (for time conversion).
        var type: IPFIXDataType = .unsigned64
        /// How a stored field's value is read (no-sample state, times), as for JSON.
        var read = SampleRead()
        /// Decoder column of a stored field, index into `derivedPrograms` of a derived one.
        var column = 0
    }

    static func compile(_ fields: [IPFIXTemplateField]) -> ([Op], [CompiledDerive]) {
        var expressions: [CompiledDerive] = []
        let ops = fields.map { f -> Op in
            let length = Int(f.specifier.length)
            switch f.source {
            case .sourceAddress: return Op(kind: .sourceAddress, length: length)
            case .destinationAddress: return Op(kind: .destinationAddress, length: length)
            case .sourcePort: return Op(kind: .sourcePort, length: length)
            case .destinationPort: return Op(kind: .destinationPort, length: length)
            case .protocolIdentifier: return Op(kind: .protocolIdentifier, length: length)
            case .icmpTypeCode: return Op(kind: .icmpTypeCode, length: length)
            case .flowEndReason: return Op(kind: .flowEndReason, length: length)
            case .flowID: return Op(kind: .flowID, length: length)
            case .biflowDirection: return Op(kind: .biflowDirection, length: length)
            case let .field(column, direction, aggregation, unit, sample):
                return Op(kind: .field, length: length, direction: direction, combine: OutputSchema.Combine(aggregation),
                          timestamp: unit == .timestamp, type: f.type, read: SampleRead(column: column, aggregation: aggregation, sample: sample),
                          column: column)
            case let .derived(expression, direction, aggregation, unit):
                expressions.append(CompiledDerive(expression))
                return Op(kind: .derived, length: length, direction: direction, combine: OutputSchema.Combine(aggregation),
                          timestamp: unit == .timestamp, type: f.type, column: expressions.count - 1)
            }
        }
        return (ops, expressions)
    }

    /// Writes the record's `recordLength` octets at `p`.
    @inline(__always)
    func write(_ flow: BiflowFields, epochOffsetNs: Int64, to p: UnsafeMutablePointer<UInt8>) {
        let key = flow.key, fv = flow.forward, rv = flow.reverse
        var q = p
        ops.withUnsafeBufferPointer { ops in
            for op in ops {
                let length = op.length
                switch op.kind {
                case .sourceAddress: Self.storeAddress(key.src, length: length, q)
                case .destinationAddress: Self.storeAddress(key.dst, length: length, q)
                case .sourcePort: Self.store(UInt64(key.sport), length, q)
                case .destinationPort: Self.store(UInt64(key.dport), length, q)
                case .protocolIdentifier: Self.store(UInt64(key.proto), length, q)
                case .icmpTypeCode: Self.store(key.isICMP ? UInt64(key.dport) : 0, length, q)
                case .flowEndReason: Self.store(UInt64(flow.endReason.ipfixCode), length, q)
                case .flowID: Self.store(flow.id, length, q)
                case .biflowDirection: Self.store(1, length, q)
                case .field:
                    // the value the JSON output shows; a value it leaves out is 0 here (storeValue)
                    Self.storeValue(op.read.value(op.direction, fv, rv), op, epochOffsetNs: epochOffsetNs, q)
                case .derived:
                    let fwd = op.direction == .reverse ? nil : derivedPrograms.evaluate(op.column, own: fv, peer: rv)
                    let rev = op.direction == .forward ? nil : rv.flatMap { derivedPrograms.evaluate(op.column, own: $0, peer: fv) }
                    Self.storeValue(Self.pick(op.direction, op.combine, fwd, rev), op, epochOffsetNs: epochOffsetNs, q)
                }
                q += length
            }
        }
    }

    /// The value of one direction, or both combined; nil when it has none.
    @inline(__always)
    static func pick(_ direction: OutputSchema.Direction, _ combine: OutputSchema.Combine, _ fwd: UInt64?, _ rev: UInt64?) -> UInt64? {
        switch direction {
        case .forward: return fwd
        case .reverse: return rev
        case .combined:
            switch (fwd, rev) {
            case let (f?, r?): return combine(f, r)
            case let (f?, nil): return f
            case let (nil, r?): return r
            case (nil, nil): return nil
            }
        }
    }

    /// Stores a field value. Fixed-length records cannot leave a value out: one the JSON output
    /// omits (no sample yet, not applicable) is 0.
    @inline(__always)
    static func storeValue(_ value: UInt64?, _ op: Op, epochOffsetNs: Int64, _ p: UnsafeMutablePointer<UInt8>) {
        guard let value else {
            p.update(repeating: 0, count: op.length)
            return
        }
        store(op.timestamp ? time(value, epochOffsetNs: epochOffsetNs, type: op.type) : value, op.length, p)
    }

    /// Stores the low `length` octets of `v` in network byte order (reduced-size encoding), saturating
    /// when the value does not fit, as counters should rather than wrapping.
    @inline(__always)
    static func store(_ v: UInt64, _ length: Int, _ p: UnsafeMutablePointer<UInt8>) {
        switch length {
        case 8: UnsafeMutableRawPointer(p).storeBytes(of: v.bigEndian, as: UInt64.self)
        case 4: UnsafeMutableRawPointer(p).storeBytes(of: UInt32(min(v, UInt64(UInt32.max))).bigEndian, as: UInt32.self)
        case 2: UnsafeMutableRawPointer(p).storeBytes(of: UInt16(min(v, UInt64(UInt16.max))).bigEndian, as: UInt16.self)
        case 1: p.pointee = UInt8(min(v, 255))
        default:
            let x = length >= 8 ? v : min(v, (UInt64(1) << UInt64(length * 8)) - 1)
            for i in 0..<length {
                let shift = (length - 1 - i) * 8
                p[i] = shift >= 64 ? 0 : UInt8(truncatingIfNeeded: x >> UInt64(shift))
            }
        }
    }

    /// The address octets: the IPv4 address of a v4-mapped value, or all 16.
    @inline(__always)
    static func storeAddress(_ address: IPAddress16, length: Int, _ p: UnsafeMutablePointer<UInt8>) {
        withUnsafeBytes(of: address.lo) { lo in
            if length == 4 {
                p.update(from: lo.baseAddress!.assumingMemoryBound(to: UInt8.self) + 4, count: 4)
            } else {
                withUnsafeBytes(of: address.hi) { hi in p.update(from: hi.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 8) }
                (p + 8).update(from: lo.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 8)
            }
        }
    }

    /// Seconds between the NTP era (1900) and the Unix epoch.
    static let ntpEpochOffset: UInt64 = 2_208_988_800

    /// A record timestamp (monotonic ns) as the element's time type; unsigned elements (flowgen's own)
    /// carry epoch microseconds, the value the JSON output shows.
    static func time(_ raw: UInt64, epochOffsetNs: Int64, type: IPFIXDataType) -> UInt64 {
        let epoch = Int64(bitPattern: raw) &+ epochOffsetNs
        let ns = epoch > 0 ? UInt64(epoch) : 0
        switch type {
        case .dateTimeSeconds: return ns / 1_000_000_000
        case .dateTimeMilliseconds: return ns / 1_000_000
        case .dateTimeMicroseconds, .dateTimeNanoseconds:
            let seconds = ns / 1_000_000_000 + ntpEpochOffset
            let rest = ns % 1_000_000_000
            var fraction = (rest << 32) / 1_000_000_000
            if type == .dateTimeMicroseconds {
                // RFC 7011 §6.1.9: microsecond precision, the fraction's low 11 bits zero
                fraction = ((rest / 1000) << 32) / 1_000_000 & ~UInt64(0x7FF)
            }
            return seconds << 32 | fraction
        default:
            return ns / 1000
        }
    }
}
