/// Output formats for exported flows.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// One JSON object per line (JSON lines), nProbe field names.
    case json
    /// Comma-separated values with a header row.
    case csv
    /// An aligned table for terminals.
    case text

    /// File extension for dated output files.
    public var fileExtension: String {
        switch self {
        case .json: return "jsonl"
        case .csv: return "csv"
        case .text: return "txt"
        }
    }
}

/// Turns biflows into text in one output format.
///
/// JSON and CSV are written as bytes straight from the records (`append(_:epochOffsetNs:to:)`):
/// no String or value array per flow, so the collector can export hundreds of thousands of flows a
/// second on one core. The text table, meant for people, goes through `OutputSchema.values`.
public struct FlowFormatter: Sendable {
    /// The column schema.
    public let schema: OutputSchema
    /// The format.
    public let format: OutputFormat
    /// The precomputed bytes of JSON/CSV output.
    let layout: ByteLayout

    /// Columns the text table shows: what fits a terminal; JSON/CSV carry everything.
    static let textColumns = ["FLOW_ID", "PROTOCOL", "SRC", "DST", "IN_PKTS", "IN_BYTES", "OUT_PKTS", "OUT_BYTES",
                              "TCP_FLAGS", "ICMP_TYPE", "FLOW_DURATION_MICROSECONDS", "FLOW_END_REASON"]

    /// Creates a formatter.
    public init(schema: OutputSchema, format: OutputFormat) {
        self.schema = schema
        self.format = format
        layout = ByteLayout(schema: schema, format: format)
    }

    /// Text to put at the top of a new file or stream (CSV header, table header), or "".
    public func header() -> String {
        switch format {
        case .json: return ""
        // names follow `OutputNames.rule`, which needs no quoting; quoted anyway should a schema
        // ever carry another name, as one stray comma would shift every column after it
        case .csv: return schema.columns.map { ByteLayout.csvCell($0.name) }.joined(separator: ",") + "\n"
        case .text: return textRow(Self.textColumns.map { $0 == "FLOW_DURATION_MICROSECONDS" ? "DURATION_US" : $0 }) + "\n"
        }
    }

    /// The text of a batch of flows.
    public func format(_ flows: [Biflow], epochOffsetNs: Int64) -> String {
        guard format == .text else { return String(decoding: formatBytes(flows, epochOffsetNs: epochOffsetNs), as: UTF8.self) }
        var out = ""
        out.reserveCapacity(flows.count * 256)
        for flow in flows {
            out += textLine(schema.values(of: flow, epochOffsetNs: epochOffsetNs))
            out += "\n"
        }
        return out
    }

    /// The text of a batch of flows as UTF-8 bytes, the same as `format(_:epochOffsetNs:)`.
    public func formatBytes(_ flows: [Biflow], epochOffsetNs: Int64) -> [UInt8] {
        var out: [UInt8] = []
        append(flows[...], epochOffsetNs: epochOffsetNs, to: &out)
        return out
    }

    /// Appends the text of a batch of flows to `out` as UTF-8 bytes, the same as `format(_:epochOffsetNs:)`;
    /// reuse `out` across batches so that its storage is allocated once.
    public func append(_ flows: [Biflow], epochOffsetNs: Int64, to out: inout [UInt8]) {
        append(flows[...], epochOffsetNs: epochOffsetNs, to: &out)
    }

    /// Appends the text of some flows to `out` as UTF-8 bytes (a slice, so large batches can be
    /// written in parts without copying them).
    public func append(_ flows: ArraySlice<Biflow>, epochOffsetNs: Int64, to out: inout [UInt8]) {
        guard !flows.isEmpty else { return }
        guard format != .text else {
            out.append(contentsOf: format(Array(flows), epochOffsetNs: epochOffsetNs).utf8)
            return
        }
        appendLines(epochOffsetNs: epochOffsetNs, to: &out) { line in
            // through a buffer pointer the flows are borrowed, not copied (and retained) one by one
            flows.withUnsafeBufferPointer { flows in
                for i in flows.indices { schema.withFields(of: flows[i], line) }
            }
        }
    }

    /// Appends the text of the flows `range` of `batch` to `out` as UTF-8 bytes, the same as for
    /// those flows as `Biflow`s, read straight from the batch's storage.
    public func append(_ batch: BiflowBatch, range: Range<Int>, epochOffsetNs: Int64, to out: inout [UInt8]) {
        guard !range.isEmpty else { return }
        guard format != .text else {
            out.append(contentsOf: format(range.map { batch[$0] }, epochOffsetNs: epochOffsetNs).utf8)
            return
        }
        precondition(batch.valueCount >= schema.valueCount, "a batch has fewer values per record than the schema's plan")
        appendLines(epochOffsetNs: epochOffsetNs, to: &out) { line in batch.forEachFields(in: range, line) }
    }

    /// Appends one JSON or CSV line for each flow `flows` hands to its callback: the lines go into
    /// a scratch block (Array has no uninitialized append), then are copied into `out` in bulk, as a
    /// memcpy per block is far cheaper than appending piece by piece.
    @inline(__always)
    private func appendLines(epochOffsetNs: Int64, to out: inout [UInt8], _ flows: ((BiflowFields) -> Void) -> Void) {
        let lineBound = layout.maxLineLength + ByteCursor.slack
        let blockSize = Swift.max(lineBound, Self.blockSize)
        layout.constants.withUnsafeBufferPointer { constants in
            schema.ops.withUnsafeBufferPointer { ops in
                layout.cells.withUnsafeBufferPointer { cells in
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: blockSize) { block in
                      withUnsafeTemporaryAllocation(of: Int64.self, capacity: 3 * SequenceField.maxLength) { merged in
                        let start = block.baseAddress!
                        var used = 0
                        flows { flow in
                            if blockSize - used < lineBound {
                                out.append(contentsOf: UnsafeBufferPointer(start: start, count: used))
                                used = 0
                            }
                            let end = format == .json
                                ? writeJSON(flow, epochOffsetNs, ops, cells, constants.baseAddress!, merged.baseAddress!, start + used)
                                : writeCSV(flow, epochOffsetNs, ops, cells, constants.baseAddress!, merged.baseAddress!, start + used)
                            used = end - start
                        }
                        out.append(contentsOf: UnsafeBufferPointer(start: start, count: used))
                      }
                    }
                }
            }
        }
    }

    /// Bytes formatted between copies into the caller's array.
    static let blockSize = 32 * 1024

    /// Writes one JSON line at `p` (at most `layout.maxLineLength` bytes, and `ByteCursor.slack`
    /// scratch beyond); returns its end.
    @inline(__always)
    func writeJSON(_ flow: BiflowFields, _ offset: Int64, _ ops: UnsafeBufferPointer<OutputSchema.Op>, _ cells: UnsafeBufferPointer<ByteLayout.Cell>,
                   _ constants: UnsafePointer<UInt8>, _ merged: UnsafeMutablePointer<Int64>, _ p: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var w = ByteCursor(p)
        // the sequence whose three arrays are in `merged` (they are consecutive columns: merged once per flow)
        var mergedColumn = -1
        w.byte(UInt8(ascii: "{"))
        let key = flow.key
        let v4 = key.ipVersion == 4
        // keys are stored as `,"NAME":`; the first value present skips the comma
        var skip = 1
        for i in 0..<ops.count {
            let op = ops[i]
            let cell = cells[i]
            guard op.kind.isText else {
                guard let v = schema.number(op, flow, offset) else { continue }
                w.short(constants + cell.start + skip, cell.count - skip)
                skip = 0
                if op.real { w.real(Double(bitPattern: v)) } else { w.decimal(v) }
                continue
            }
            if op.kind == .sequence {
                w.short(constants + cell.start + skip, cell.count - skip)
                skip = 0
                w.list(sequence(op, flow, merged, &mergedColumn), schema.sequenceColumns[op.column].length)
                continue
            }
            if op.kind == .endReason {
                w.short(constants + cell.start + skip, cell.count - skip)
                skip = 0
                let reason = cells[ops.count + ByteLayout.reasonIndex(flow.endReason)]
                w.short(constants + reason.start, reason.count)
                continue
            }
            guard (op.kind == .src4 || op.kind == .dst4) == v4 else { continue }
            w.short(constants + cell.start + skip, cell.count - skip)
            skip = 0
            w.byte(UInt8(ascii: "\""))
            w.address(op.kind == .src4 || op.kind == .src6 ? key.src : key.dst)
            w.byte(UInt8(ascii: "\""))
        }
        w.byte(UInt8(ascii: "}"))
        w.byte(UInt8(ascii: "\n"))
        return w.p
    }

    /// Writes one CSV line at `p` (at most `layout.maxLineLength` bytes, and `ByteCursor.slack`
    /// scratch beyond); returns its end.
    @inline(__always)
    func writeCSV(_ flow: BiflowFields, _ offset: Int64, _ ops: UnsafeBufferPointer<OutputSchema.Op>, _ cells: UnsafeBufferPointer<ByteLayout.Cell>,
                  _ constants: UnsafePointer<UInt8>, _ merged: UnsafeMutablePointer<Int64>, _ p: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var w = ByteCursor(p)
        // the sequence whose three arrays are in `merged` (they are consecutive columns: merged once per flow)
        var mergedColumn = -1
        let key = flow.key
        let v4 = key.ipVersion == 4
        for i in 0..<ops.count {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            let op = ops[i]
            guard op.kind.isText else {
                if let v = schema.number(op, flow, offset) {
                    if op.real { w.real(Double(bitPattern: v)) } else { w.decimal(v) }
                }
                continue
            }
            if op.kind == .sequence {
                // a list holds commas: one quoted cell, as pandas reads it back (a string)
                w.byte(UInt8(ascii: "\""))
                w.list(sequence(op, flow, merged, &mergedColumn), schema.sequenceColumns[op.column].length)
                w.byte(UInt8(ascii: "\""))
                continue
            }
            if op.kind == .endReason {
                let reason = cells[ops.count + ByteLayout.reasonIndex(flow.endReason)]
                w.short(constants + reason.start, reason.count)
                continue
            }
            // address text never holds a comma or a quote: no quoting
            guard (op.kind == .src4 || op.kind == .dst4) == v4 else { continue }
            w.address(op.kind == .src4 || op.kind == .src6 ? key.src : key.dst)
        }
        w.byte(UInt8(ascii: "\n"))
        return w.p
    }

    /// The array `op` names (direction, size or gap) of its sequence for `flow`, merged into
    /// `merged` unless `mergedColumn` says it is there already (the three arrays of a sequence are
    /// written one after the other: one merge per flow, not three).
    @inline(__always)
    func sequence(_ op: OutputSchema.Op, _ flow: BiflowFields, _ merged: UnsafeMutablePointer<Int64>,
                  _ mergedColumn: inout Int) -> UnsafePointer<Int64> {
        if mergedColumn != op.column {
            schema.mergeSequence(op.column, flow, into: merged)
            mergedColumn = op.column
        }
        return UnsafePointer(merged + op.column2 * schema.sequenceColumns[op.column].length)
    }

    /// Everything of JSON/CSV output that does not depend on the flow, as bytes, and a bound on
    /// the length of one line so the writers need no capacity checks.
    struct ByteLayout: Sendable {
        /// A byte range in `constants`.
        struct Cell: Sendable {
            var start: Int
            var count: Int
        }

        /// JSON keys (`,"NAME":`) and end-reason texts (JSON string literals, or CSV cells), then
        /// `ByteCursor.slack` zeros.
        let constants: [UInt8]
        /// One key cell per column (empty for CSV), then one cell per end reason (`reasonIndex`).
        let cells: [Cell]
        /// The longest line one flow can produce, newline included.
        let maxLineLength: Int

        init(schema: OutputSchema, format: OutputFormat) {
            var constants: [UInt8] = []
            var cells: [Cell] = []
            for column in schema.columns {
                // escaped here, once per formatter, so the per-flow writers copy the bytes as they are:
                // a valid name is its own escape, and any other cannot break the line
                let key: [UInt8] = format == .json ? Array(("," + FlowFormatter.jsonString(column.name) + ":").utf8) : []
                cells.append(Cell(start: constants.count, count: key.count))
                constants += key
            }
            var longestReason = 0
            for reason in EndReason.allCases {
                precondition(cells.count == schema.columns.count + Self.reasonIndex(reason), "end reasons in reasonIndex order")
                let text: [UInt8] = format == .json ? Array(FlowFormatter.jsonString(reason.name).utf8) : Array(Self.csvCell(reason.name).utf8)
                cells.append(Cell(start: constants.count, count: text.count))
                constants += text
                longestReason = Swift.max(longestReason, text.count)
            }
            var bound = 3 // braces and newline
            for (column, cell) in zip(schema.columns, cells) {
                let value: Int
                switch column.source {
                case .src4, .dst4, .src6, .dst6: value = ByteCursor.maxAddressLength + 2
                case .endReason: value = longestReason
                case let .derived(expression, _, _, _) where expression.isReal: value = ByteCursor.maxRealLength
                case let .sequence(c, _): value = 4 + c.length * (ByteCursor.maxDecimalLength + 2)
                default: value = ByteCursor.maxDecimalLength
                }
                bound += 1 + cell.count + value
            }
            // `ByteCursor.short` reads up to 32 bytes from any constant
            self.constants = constants + repeatElement(0, count: ByteCursor.slack)
            self.cells = cells
            maxLineLength = bound
        }

        /// The position of an end reason among the reason cells.
        @inline(__always)
        static func reasonIndex(_ reason: EndReason) -> Int {
            switch reason {
            case .idleTimeout: return 0
            case .activeTimeout: return 1
            case .endOfFlow: return 2
            case .forced: return 3
            case .lackOfResources: return 4
            case .endOfCapture: return 5
            }
        }

        /// A CSV cell (RFC 4180, 2.6 and 2.7): quoted, with quotes doubled, when it holds a comma, a
        /// quote or a line break.
        static func csvCell(_ s: String) -> String {
            s.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingQuotes() + "\"" : s
        }
    }

    func textLine(_ values: [OutputSchema.Value]) -> String {
        var byName: [String: String] = [:]
        for (column, value) in zip(schema.columns, values) {
            switch value {
            case .absent: break
            case let .number(n): byName[column.name] = String(n)
            case let .real(r): byName[column.name] = String(r)
            case let .list(l): byName[column.name] = "[" + l.map(String.init).joined(separator: ",") + "]"
            case let .text(s): byName[column.name] = s
            }
        }
        // IPv6 in brackets, as in URLs, so the port stays readable
        let src = byName["IPV4_SRC_ADDR"] ?? byName["IPV6_SRC_ADDR"].map { "[\($0)]" } ?? ""
        let dst = byName["IPV4_DST_ADDR"] ?? byName["IPV6_DST_ADDR"].map { "[\($0)]" } ?? ""
        if let proto = byName["PROTOCOL"], proto == "1" || proto == "58" {
            // ICMP has no ports: the key's port fields hold the echo identifier and type × 256 + code,
            // which read as ports (`:2048`) mislead; the type/code goes to the ICMP_TYPE column
            // (and IPv6 needs no brackets without a port)
            byName["SRC"] = byName["IPV4_SRC_ADDR"] ?? byName["IPV6_SRC_ADDR"] ?? ""
            byName["DST"] = byName["IPV4_DST_ADDR"] ?? byName["IPV6_DST_ADDR"] ?? ""
            if let typeCode = byName["ICMP_TYPE"].flatMap({ UInt64($0) }) {
                byName["ICMP_TYPE"] = Self.icmpTypeText(typeCode)
            }
        } else {
            byName["SRC"] = src + ":" + (byName["L4_SRC_PORT"] ?? "")
            byName["DST"] = dst + ":" + (byName["L4_DST_PORT"] ?? "")
        }
        if let flags = byName["TCP_FLAGS"], let n = UInt64(flags) {
            byName["TCP_FLAGS"] = byName["PROTOCOL"] == "6" ? Self.tcpFlagsText(n) : nil
        }
        return textRow(Self.textColumns.map { byName[$0] ?? "-" })
    }

    func textRow(_ cells: [String]) -> String {
        let widths = [7, 8, 41, 41, 8, 11, 8, 11, 9, 9, 11, 14]
        return zip(cells, widths).map { cell, w in cell.count >= w ? cell : cell + String(repeating: " ", count: w - cell.count) }
            .joined(separator: " ").trimmingTrailingSpaces()
    }

    /// An ICMP/ICMPv6 type × 256 + code as `type/code` (`8/0` is an echo request).
    public static func icmpTypeText(_ typeCode: UInt64) -> String {
        "\(typeCode >> 8)/\(typeCode & 0xFF)"
    }

    /// TCP flags as letters (CWR ECE URG ACK PSH RST SYN FIN → "CEUAPRSF", '.' for unset).
    public static func tcpFlagsText(_ flags: UInt64) -> String {
        let letters: [Character] = ["C", "E", "U", "A", "P", "R", "S", "F"]
        return String((0..<8).map { flags & (1 << (7 - $0)) != 0 ? letters[$0] : "." })
    }

    /// A JSON string literal with the escapes RFC 8259 requires.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16) }
                else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

extension String {
    func replacingQuotes() -> String {
        var out = ""
        for c in self { out += c == "\"" ? "\"\"" : String(c) }
        return out
    }

    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
