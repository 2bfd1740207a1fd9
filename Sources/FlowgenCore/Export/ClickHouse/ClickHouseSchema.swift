/// The ClickHouse table of a plan: one column per output column of `OutputSchema` (the JSON keys,
/// so SQL and JSON name a value alike), typed by the field's width and unit, histograms as arrays,
/// plus the exporter's identity; and the RowBinary encoding of flows into it.
///
/// The two dialects differ only in type names, never in bytes: RowBinary sends an `IPv4` as the
/// UInt32 it is stored as, an `IPv6` as its 16 bytes, a `DateTime64(6)` as Int64 microseconds. So one
/// encoder serves a table of either dialect, and a table made by an old server keeps working after
/// an upgrade.
public struct ClickHouseSchema: Sendable {
    /// Which type names the DDL uses.
    public enum Dialect: String, Sendable, CaseIterable {
        /// Types every server has, back to Debian 12's 18.16: addresses as `UInt32` and
        /// `FixedString(16)`, times as `UInt64` epoch microseconds. Also valid on current servers.
        case legacy
        /// Current servers (20.1 and later): `IPv4`, `IPv6`, `DateTime64(6, 'UTC')`, `LowCardinality`.
        case modern

        /// The dialect of a server that answered `SELECT version()` with `version` ("18.16.1",
        /// "24.8.4.13"); `DateTime64` arrived in 20.1, the last of the modern types.
        public init(serverVersion version: String) {
            let major = Int(version.split(separator: ".").first ?? "") ?? 0
            self = major >= 20 ? .modern : .legacy
        }
    }

    /// One table column.
    public struct Column: Sendable, Equatable {
        /// Column name: an output name, the name of a histogram's array, or `EXPORTER_ID`.
        public var name: String
        /// The ClickHouse type.
        public var type: String
        /// For an array column, the output names of its elements in order (JSON keys); else empty.
        public var elements: [String]
    }

    /// What a column's bytes are made of, as plain data for the per-flow loop.
    struct Cell: Sendable {
        enum Kind: UInt8, Sendable { case exporterID, src4, dst4, src6, dst6, endReason, number, array, list }
        var kind: Kind
        /// The first op (`OutputSchema.ops`) the column reads.
        var op = 0
        /// Bytes of a number (1, 2, 4, 8).
        var width = 8
        /// Whether a null flag byte precedes the value.
        var nullable = false
        /// Elements of an array.
        var count = 1
    }

    /// The name of the exporter identity column.
    public static let exporterColumn = "EXPORTER_ID"

    /// The flow columns under `OutputSchema`'s names.
    public let output: OutputSchema
    /// Which type names `columns` carry.
    public let dialect: Dialect
    /// The columns in table and RowBinary order, `EXPORTER_ID` first.
    public let columns: [Column]
    /// The column that holds the flow's start (the table's time key), if the plan has one.
    public let timeColumn: String?
    let cells: [Cell]
    /// The same columns typed in the other dialect, to accept a table made by either.
    let otherTypes: [String]

    /// Builds the table of `plan`; fails when a module's output name is the exporter column.
    public init(plan: Plan, dialect: Dialect) throws {
        output = OutputSchema(plan: plan)
        self.dialect = dialect
        let built = try Self.build(plan: plan, output: output, dialect: dialect)
        columns = built.columns
        cells = built.cells
        timeColumn = built.time
        otherTypes = try Self.build(plan: plan, output: output, dialect: dialect == .legacy ? .modern : .legacy).columns.map(\.type)
    }

    /// The field (and its module-declared type) behind each output name.
    private static func fieldSpecs(_ plan: Plan) -> [String: FieldSpec] {
        var specs: [String: FieldSpec] = [:]
        for module in plan.features {
            for field in module.fields {
                for name in field.json.forward + field.json.reverse + field.json.combined { specs[name] = field }
            }
        }
        return specs
    }

    private static func build(plan: Plan, output: OutputSchema, dialect: Dialect) throws
        -> (columns: [Column], cells: [Cell], time: String?) {
        let modern = dialect == .modern
        let specs = fieldSpecs(plan)
        var columns = [Column(name: exporterColumn, type: modern ? "LowCardinality(String)" : "String", elements: [])]
        var cells = [Cell(kind: .exporterID)]
        var time: String?
        let names = Set(output.columns.map(\.name))
        guard !names.contains(exporterColumn) else {
            throw ClickHouseError.schema("a selected feature module names an output column \(exporterColumn), which the ClickHouse table uses for the exporter's identity; rename that field's json: name")
        }
        let timestampType = modern ? "DateTime64(6, 'UTC')" : "UInt64"
        func nullable(_ type: String, _ yes: Bool) -> String { yes ? "Nullable(\(type))" : type }
        func uint(_ width: Int) -> String { "UInt\(width * 8)" }

        var index = 0
        let ops = output.ops
        while index < output.columns.count {
            let column = output.columns[index], op = ops[index]
            switch column.source {
            case .flowID, .duration:
                columns.append(Column(name: column.name, type: "UInt64", elements: []))
                cells.append(Cell(kind: .number, op: index, width: 8))
            case .sport, .dport:
                columns.append(Column(name: column.name, type: "UInt16", elements: []))
                cells.append(Cell(kind: .number, op: index, width: 2))
            case .proto, .ipVersion:
                columns.append(Column(name: column.name, type: "UInt8", elements: []))
                cells.append(Cell(kind: .number, op: index, width: 1))
            case .icmpType:
                // type × 256 + code, as in JSON; absent for flows that are not ICMP
                columns.append(Column(name: column.name, type: "Nullable(UInt16)", elements: []))
                cells.append(Cell(kind: .number, op: index, width: 2, nullable: true))
            case .src4, .dst4:
                columns.append(Column(name: column.name, type: nullable(modern ? "IPv4" : "UInt32", true), elements: []))
                cells.append(Cell(kind: column.source == .src4 ? .src4 : .dst4, op: index, width: 4, nullable: true))
            case .src6, .dst6:
                columns.append(Column(name: column.name, type: nullable(modern ? "IPv6" : "FixedString(16)", true), elements: []))
                cells.append(Cell(kind: column.source == .src6 ? .src6 : .dst6, op: index, width: 16, nullable: true))
            case .endReason:
                // in value order, as servers list an Enum8 back
                let values = EndReason.allCases.sorted { Int8(bitPattern: $0.rawValue) < Int8(bitPattern: $1.rawValue) }.map { "'\($0.name)' = \(Int8(bitPattern: $0.rawValue))" }.joined(separator: ", ")
                columns.append(Column(name: column.name, type: "Enum8(\(values))", elements: []))
                cells.append(Cell(kind: .endReason, op: index, width: 1))
            case .derived:
                // an expression may have no value (a division by zero, a missing direction)
                // a real (mean, stddev) is the Double's bits: Float64 in RowBinary's little-endian order
                let scalar = op.real ? "Float64" : op.timestamp ? timestampType : "UInt64"
                columns.append(Column(name: column.name, type: nullable(scalar, true), elements: []))
                cells.append(Cell(kind: .number, op: index, width: 8, nullable: true))
            case .sequence:
                // per-packet values of both directions in time order, -1 padded, as the JSON array
                columns.append(Column(name: column.name, type: "Array(Int64)", elements: []))
                cells.append(Cell(kind: .list, op: index))
            case let .field(_, direction, aggregation, _, sample):
                guard let spec = specs[column.name] else {
                    preconditionFailure("output column \(column.name) has no field in the plan")
                }
                var width = spec.type.size
                // two directions' sums can pass one direction's width
                if direction == .combined, case .sum = aggregation { width = Swift.min(8, width * 2) }
                if case .histogram = aggregation, direction == .combined { width = Swift.min(8, width * 2) }
                // a value the JSON output can leave out is NULL; a histogram stays an array, empty when
                // its module applied to neither direction (ClickHouse has no Nullable arrays)
                let canLack = sample.none != nil || sample.bitColumn != nil
                let isNullable: Bool
                switch direction {
                case .forward, .combined: isNullable = canLack
                case .reverse: isNullable = canLack || !op.zeroWhenOneWay
                }
                let arrayNullable = sample.none != nil || (direction == .reverse && !op.zeroWhenOneWay)
                // a timestamp is shown as epoch µs, whatever the width it is stored at
                if op.timestamp { width = 8 }
                let scalar = op.timestamp ? timestampType : uint(width)
                if case .histogram = aggregation, !arrayNullable, spec.count > 1,
                   let array = arrayName(of: output.columns, from: index, count: spec.count, taken: names) {
                    let elementNames = output.columns[index..<index + spec.count].map(\.name)
                    columns.append(Column(name: array, type: "Array(\(scalar))", elements: elementNames))
                    cells.append(Cell(kind: .array, op: index, width: width, count: spec.count))
                    index += spec.count
                    continue
                }
                columns.append(Column(name: column.name, type: nullable(scalar, isNullable), elements: []))
                cells.append(Cell(kind: .number, op: index, width: width, nullable: isNullable))
                if spec.name == "first_seen" && direction == .combined && !isNullable { time = column.name }
            }
            index += 1
        }
        return (columns, cells, time)
    }

    /// The name of a histogram's array: the elements' common prefix and suffix (SRC_NUM_PKTS_TTL_EQ_0,
    /// ... → SRC_NUM_PKTS_TTL; PAYLOAD_NIBBLE_0_IN, ... → PAYLOAD_NIBBLE_IN); nil when that leaves
    /// nothing or a name already taken, and the bins stay columns of their own.
    static func arrayName(of columns: [OutputSchema.Column], from start: Int, count: Int, taken: Set<String>) -> String? {
        let names = columns[start..<start + count].map { Array($0.name.utf8) }
        guard let first = names.first, let shortest = names.map(\.count).min() else { return nil }
        var prefix = 0
        while prefix < shortest, names.allSatisfy({ $0[prefix] == first[prefix] }) { prefix += 1 }
        var suffix = 0
        while suffix < shortest - prefix, names.allSatisfy({ $0[$0.count - 1 - suffix] == first[first.count - 1 - suffix] }) { suffix += 1 }
        let underscore = UInt8(ascii: "_")
        let head = first[0..<prefix].reversed().drop { $0 == underscore }.reversed()
        let tail = first[(first.count - suffix)...].drop { $0 == underscore }
        let name = String(decoding: head.isEmpty || tail.isEmpty ? Array(head) + Array(tail) : Array(head) + [underscore] + Array(tail), as: UTF8.self)
        guard !name.isEmpty, !taken.contains(name), name != exporterColumn, OutputNames.isValid(name) else { return nil }
        return name
    }

    /// `name` as a ClickHouse identifier: bare when it is letters, digits and `_`, else in backquotes
    /// (output names may hold `.` and `-`).
    public static func identifier(_ name: String) -> String {
        let plain = name.utf8.allSatisfy { OutputNames.isLetter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_") }
        return plain ? name : "`" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`"
    }

    /// Whether `table` (`name` or `database.name`) is a name the DDL can use unquoted.
    public static func isValidTableName(_ table: String) -> Bool {
        let parts = table.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return false }
        return parts.allSatisfy { part in
            guard let first = part.utf8.first, OutputNames.isLetter(first) || first == UInt8(ascii: "_"), part.utf8.count <= 64 else { return false }
            return part.utf8.allSatisfy { OutputNames.isLetter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_") }
        }
    }

    /// The `CREATE TABLE` of `table`: a MergeTree partitioned by the day the flow started and
    /// ordered by start time, then exporter and FLOW_ID (which, with the exporter, names one flow of
    /// a collector's run), so a time range reads only its days and its part of each.
    public func createTable(_ table: String, ifNotExists: Bool = true) -> String {
        var lines: [String] = []
        for column in columns where !column.elements.isEmpty {
            lines.append("-- \(column.name): [\(column.elements.joined(separator: ", "))]")
        }
        lines.append("CREATE TABLE \(ifNotExists ? "IF NOT EXISTS " : "")\(table)")
        lines.append("(")
        let width = columns.map { Self.identifier($0.name).count }.max() ?? 0
        for (i, column) in columns.enumerated() {
            let name = Self.identifier(column.name)
            lines.append("    \(name)\(String(repeating: " ", count: width - name.count + 1))\(column.type)\(i == columns.count - 1 ? "" : ",")")
        }
        lines.append(")")
        lines.append("ENGINE = MergeTree()")
        if let time = timeColumn.map(Self.identifier) {
            let day = dialect == .modern ? "toYYYYMMDD(\(time))" : "toYYYYMMDD(toDateTime(intDiv(\(time), 1000000)))"
            lines.append("PARTITION BY \(day)")
            lines.append("ORDER BY (\(time), \(Self.exporterColumn), FLOW_ID)")
        } else {
            lines.append("ORDER BY (\(Self.exporterColumn), FLOW_ID)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The query that inserts rows in this column order: `INSERT INTO table (…) FORMAT format`.
    public func insertQuery(_ table: String, format: String = "RowBinary") -> String {
        "INSERT INTO \(table) (\(columns.map { Self.identifier($0.name) }.joined(separator: ", "))) FORMAT \(format)"
    }

    /// The differences between this table and an existing one given as (name, type) pairs, in
    /// words; empty when they match (a column typed in either dialect matches).
    public func differences(from existing: [(name: String, type: String)]) -> [String] {
        var out: [String] = []
        let theirs = Dictionary(existing.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        let ours = Set(columns.map(\.name))
        for (column, other) in zip(columns, otherTypes) {
            guard let type = theirs[column.name] else { out.append("missing column \(column.name) \(column.type)"); continue }
            let accepted = [column.type, other].map(Self.normalizedType)
            if !accepted.contains(Self.normalizedType(type)) {
                out.append("column \(column.name) is \(type), flowgen writes \(column.type)")
            }
        }
        for (name, type) in existing where !ours.contains(name) {
            out.append("extra column \(name) \(type) that flowgen does not write")
        }
        if existing.map(\.name).filter(ours.contains) != columns.map(\.name).filter(Set(theirs.keys).contains) {
            out.append("the columns are in another order than flowgen writes them")
        }
        return out
    }

    /// A type as the server reports it, without the spaces and quoting differences of its spelling.
    static func normalizedType(_ type: String) -> String {
        type.replacingOccurrences(of: "\\'", with: "'").filter { $0 != " " }
    }

    /// Encodes the flows `range` of `batch` as RowBinary rows appended to `out`. `exporterID` is the
    /// identity's UTF-8; `epochOffsetNs` turns record time into Unix time, as for JSON.
    public func appendRowBinary(_ batch: BiflowBatch, range: Range<Int>, exporterID: [UInt8], epochOffsetNs: Int64, to out: inout [UInt8]) {
        guard !range.isEmpty else { return }
        precondition(batch.valueCount >= output.valueCount, "a batch has fewer values per record than the schema's plan")
        let id = Self.rowBinaryString(exporterID)
        cells.withUnsafeBufferPointer { cells in
            output.ops.withUnsafeBufferPointer { ops in
                batch.forEachFields(in: range) { appendRow($0, cells, ops, id, epochOffsetNs, &out) }
            }
        }
    }

    /// Encodes `flows` as RowBinary rows appended to `out`.
    public func appendRowBinary(_ flows: [Biflow], exporterID: [UInt8], epochOffsetNs: Int64, to out: inout [UInt8]) {
        let id = Self.rowBinaryString(exporterID)
        cells.withUnsafeBufferPointer { cells in
            output.ops.withUnsafeBufferPointer { ops in
                for flow in flows { output.withFields(of: flow) { appendRow($0, cells, ops, id, epochOffsetNs, &out) } }
            }
        }
    }

    /// A RowBinary String: LEB128 length, then the bytes.
    static func rowBinaryString(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        appendVarUInt(UInt64(bytes.count), to: &out)
        return out + bytes
    }

    @inline(__always)
    static func appendVarUInt(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    @inline(__always)
    static func appendLE(_ value: UInt64, width: Int, to out: inout [UInt8]) {
        var v = value
        for _ in 0..<width {
            out.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    @inline(__always)
    func appendRow(_ flow: BiflowFields, _ cells: UnsafeBufferPointer<Cell>, _ ops: UnsafeBufferPointer<OutputSchema.Op>,
                   _ id: [UInt8], _ offset: Int64, _ out: inout [UInt8]) {
        let key = flow.key
        let v4 = key.ipVersion == 4
        for cell in cells {
            switch cell.kind {
            case .exporterID:
                out.append(contentsOf: id)
            case .src4, .dst4:
                guard v4 else { out.append(1); continue }
                let address = cell.kind == .src4 ? key.src : key.dst
                // the last 4 bytes of the v4-mapped address, as the UInt32 a.b.c.d reads as
                out.append(0)
                Self.appendLE(UInt64(UInt32(bigEndian: UInt32(truncatingIfNeeded: address.lo >> 32))), width: 4, to: &out)
            case .src6, .dst6:
                guard !v4 else { out.append(1); continue }
                let address = cell.kind == .src6 ? key.src : key.dst
                out.append(0)
                withUnsafeBytes(of: address.hi) { out.append(contentsOf: $0) }
                withUnsafeBytes(of: address.lo) { out.append(contentsOf: $0) }
            case .endReason:
                out.append(flow.endReason.rawValue)
            case .number:
                let value = output.number(ops[cell.op], flow, offset)
                if cell.nullable {
                    // RowBinary: a null is the flag byte alone
                    guard let value else { out.append(1); continue }
                    out.append(0)
                    Self.appendLE(value, width: cell.width, to: &out)
                } else {
                    Self.appendLE(value ?? 0, width: cell.width, to: &out)
                }
            case .list:
                let values = output.sequence(ops[cell.op], flow)
                Self.appendVarUInt(UInt64(values.count), to: &out)
                for value in values { Self.appendLE(UInt64(bitPattern: value), width: 8, to: &out) }
            case .array:
                // absent (a module that applied to neither direction): an empty array
                guard output.number(ops[cell.op], flow, offset) != nil else {
                    Self.appendVarUInt(0, to: &out)
                    continue
                }
                Self.appendVarUInt(UInt64(cell.count), to: &out)
                for element in cell.op..<cell.op + cell.count {
                    Self.appendLE(output.number(ops[element], flow, offset) ?? 0, width: cell.width, to: &out)
                }
            }
        }
    }
}

/// Errors of the ClickHouse output.
public enum ClickHouseError: Error, CustomStringConvertible, Equatable {
    /// The plan cannot be made a table.
    case schema(String)
    /// A `--clickhouse` URL is unusable (URL without its password, why).
    case destination(String, String)
    /// The server could not be reached or did not answer (destination, why).
    case unreachable(String, String)
    /// The server answered with an error (destination, HTTP status, its message).
    case refused(String, Int, String)
    /// The table exists with other columns (table, differences).
    case tableDiffers(String, [String])
    /// The table does not exist and `--clickhouse-create` was not given.
    case tableMissing(String)
    /// The spool folder or a batch file is unusable (path, why).
    case spool(String, String)

    /// A one-line message.
    public var description: String {
        switch self {
        case let .schema(why): return "ClickHouse table: \(why)"
        case let .destination(url, why): return "--clickhouse '\(url)' \(why)"
        case let .unreachable(to, why): return "ClickHouse at \(to): \(why); is the server running and the address right?"
        case let .refused(to, status, message): return "ClickHouse at \(to) refused (HTTP \(status)): \(message)"
        case let .tableDiffers(table, differences):
            return "ClickHouse table \(table) has other columns than this feature set writes (\(differences.joined(separator: "; "))): write to another table (?table=NAME) or drop it; `flowgen schema --clickhouse` prints the one needed"
        case let .spool(path, why):
            return "ClickHouse spool \(path): \(why); choose another folder with --clickhouse-spool DIR"
        case let .tableMissing(table):
            return "ClickHouse table \(table) does not exist: pass --clickhouse-create, or create it with `flowgen schema --clickhouse --features LIST --table \(table)`"
        }
    }
}
