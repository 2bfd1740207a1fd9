/// One direction of a flow as drained from the kernel: its key and every field's value(s).
public struct FlowRecord: Sendable, Equatable {
    /// The direction's key.
    public var key: FlowKey
    /// Field values, indexed like `RecordDecoder.columns` (histograms take one entry per bin).
    public var values: [UInt64]

    /// Creates a record.
    public init(key: FlowKey, values: [UInt64]) {
        self.key = key
        self.values = values
    }
}

/// Reads raw `struct fg_record` bytes into `FlowRecord` values, with the layout from the plan.
public struct RecordDecoder: Sendable {
    /// One decoded value: which slot, which element.
    public struct Column: Sendable, Equatable {
        /// Index of the slot in the plan's layout.
        public var slot: Int
        /// Element index (histogram bin), 0 for scalars.
        public var element: Int
        /// Byte offset in the record.
        public var offset: Int
        /// Element size in bytes.
        public var size: Int
    }

    /// The plan whose layout this decodes.
    public let plan: Plan
    /// Value columns in order.
    public let columns: [Column]
    /// First column index of each slot, by field name.
    public let firstColumn: [String: Int]

    /// Creates a decoder for a plan.
    public init(plan: Plan) {
        self.plan = plan
        var columns: [Column] = []
        var first: [String: Int] = [:]
        for (i, slot) in plan.layout.slots.enumerated() {
            first[slot.field.name] = columns.count
            for e in 0..<slot.field.count {
                columns.append(Column(slot: i, element: e, offset: slot.offset + e * slot.field.type.size, size: slot.field.type.size))
            }
        }
        self.columns = columns
        self.firstColumn = first
        runs = Self.runs(columns)
    }

    /// Columns stored back to back with one element size, decoded together: a histogram or a row
    /// of u64 counters is one copy instead of a size switch per value.
    struct Run: Sendable {
        /// First column of the run.
        var column: Int
        /// Byte offset of its first element in the record.
        var offset: Int
        /// Columns in the run.
        var count: Int
        /// Element size in bytes.
        var size: Int
    }

    /// `columns` cut into runs.
    let runs: [Run]

    static func runs(_ columns: [Column]) -> [Run] {
        var runs: [Run] = []
        for (i, c) in columns.enumerated() {
            if var last = runs.last, last.size == c.size, last.offset + last.count * last.size == c.offset {
                last.count += 1
                runs[runs.count - 1] = last
            } else {
                runs.append(Run(column: i, offset: c.offset, count: 1, size: c.size))
            }
        }
        return runs
    }

    /// Size of one record in bytes.
    public var recordSize: Int { plan.layout.size }

    /// Decodes one record's value bytes.
    public func decode(key: FlowKey, value: UnsafeRawBufferPointer) -> FlowRecord {
        precondition(value.count >= recordSize, "record shorter than the plan's layout")
        let values = [UInt64](unsafeUninitializedCapacity: columns.count) { buffer, count in
            decode(value.baseAddress!, into: buffer.baseAddress!)
            count = columns.count
        }
        return FlowRecord(key: key, values: values)
    }

    /// Decodes the record at `record` (at least `recordSize` readable bytes) into `columns.count`
    /// values at `values`, in column order; nothing is allocated, so a batch of flows can be
    /// decoded into one buffer (`BiflowBatch`).
    @inline(__always)
    public func decode(_ record: UnsafeRawPointer, into values: UnsafeMutablePointer<UInt64>) {
        runs.withUnsafeBufferPointer { runs in
            for run in runs {
                let from = record + run.offset, to = values + run.column
                switch run.size {
                case 8:
                    // u64 values in host order, as loadUnaligned would read them one by one: a plain copy
                    UnsafeMutableRawPointer(to).copyMemory(from: from, byteCount: run.count * 8)
                case 4:
                    for e in 0..<run.count { to[e] = UInt64(from.loadUnaligned(fromByteOffset: e * 4, as: UInt32.self)) }
                case 2:
                    for e in 0..<run.count { to[e] = UInt64(from.loadUnaligned(fromByteOffset: e * 2, as: UInt16.self)) }
                default:
                    for e in 0..<run.count { to[e] = UInt64(from.load(fromByteOffset: e, as: UInt8.self)) }
                }
            }
        }
    }

    /// The value of a scalar field by name, if the plan has it.
    public func value(_ field: String, in record: FlowRecord) -> UInt64? {
        guard let i = firstColumn[field] else { return nil }
        return record.values[i]
    }

    /// Checks the plan's layout against the struct the compiler emitted (from BTF): same size,
    /// and every field at the plan's offset with the plan's size. Returns a list of mismatches.
    public func mismatches(btfSize: Int, members: [(name: String, offset: Int, size: Int)]) -> [String] {
        var problems: [String] = []
        if btfSize != recordSize { problems.append("struct fg_record is \(btfSize) bytes in the object, \(recordSize) in the plan") }
        let byName = Dictionary(members.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for slot in plan.layout.slots {
            guard let m = byName[slot.field.name] else {
                problems.append("field \(slot.field.name) is missing from the object's struct fg_record")
                continue
            }
            if m.offset != slot.offset || m.size != slot.field.byteSize {
                problems.append("field \(slot.field.name): object has offset \(m.offset) size \(m.size), plan has offset \(slot.offset) size \(slot.field.byteSize)")
            }
        }
        return problems
    }
}
