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
public struct FlowFormatter: Sendable {
    /// The column schema.
    public let schema: OutputSchema
    /// The format.
    public let format: OutputFormat

    /// Columns the text table shows: what fits a terminal; JSON/CSV carry everything.
    static let textColumns = ["FLOW_ID", "PROTOCOL", "SRC", "DST", "IN_PKTS", "IN_BYTES", "OUT_PKTS", "OUT_BYTES",
                              "TCP_FLAGS", "ICMP_TYPE", "FLOW_DURATION_MICROSECONDS", "FLOW_END_REASON"]

    /// Creates a formatter.
    public init(schema: OutputSchema, format: OutputFormat) {
        self.schema = schema
        self.format = format
    }

    /// Text to put at the top of a new file or stream (CSV header, table header), or "".
    public func header() -> String {
        switch format {
        case .json: return ""
        case .csv: return schema.columns.map(\.name).joined(separator: ",") + "\n"
        case .text: return textRow(Self.textColumns.map { $0 == "FLOW_DURATION_MICROSECONDS" ? "DURATION_US" : $0 }) + "\n"
        }
    }

    /// The text of a batch of flows.
    public func format(_ flows: [Biflow], epochOffsetNs: Int64) -> String {
        var out = ""
        out.reserveCapacity(flows.count * 256)
        for flow in flows {
            let values = schema.values(of: flow, epochOffsetNs: epochOffsetNs)
            switch format {
            case .json: appendJSON(values, to: &out)
            case .csv: appendCSV(values, to: &out)
            case .text: out += textLine(values)
            }
            out += "\n"
        }
        return out
    }

    func appendJSON(_ values: [OutputSchema.Value], to out: inout String) {
        out += "{"
        var first = true
        for (column, value) in zip(schema.columns, values) {
            switch value {
            case .absent: continue
            case let .number(n):
                out += first ? "\"" : ",\""
                out += column.name
                out += "\":"
                out += String(n)
            case let .text(s):
                out += first ? "\"" : ",\""
                out += column.name
                out += "\":"
                out += Self.jsonString(s)
            }
            first = false
        }
        out += "}"
    }

    func appendCSV(_ values: [OutputSchema.Value], to out: inout String) {
        for (i, value) in values.enumerated() {
            if i > 0 { out += "," }
            switch value {
            case .absent: break
            case let .number(n): out += String(n)
            case let .text(s): out += s.contains(where: { $0 == "," || $0 == "\"" }) ? "\"" + s.replacingQuotes() + "\"" : s
            }
        }
    }

    func textLine(_ values: [OutputSchema.Value]) -> String {
        var byName: [String: String] = [:]
        for (column, value) in zip(schema.columns, values) {
            switch value {
            case .absent: break
            case let .number(n): byName[column.name] = String(n)
            case let .text(s): byName[column.name] = s
            }
        }
        // IPv6 in brackets, as in URLs, so the port stays readable
        let src = byName["IPV4_SRC_ADDR"] ?? byName["IPV6_SRC_ADDR"].map { "[\($0)]" } ?? ""
        let dst = byName["IPV4_DST_ADDR"] ?? byName["IPV6_DST_ADDR"].map { "[\($0)]" } ?? ""
        byName["SRC"] = src + ":" + (byName["L4_SRC_PORT"] ?? "")
        byName["DST"] = dst + ":" + (byName["L4_DST_PORT"] ?? "")
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
