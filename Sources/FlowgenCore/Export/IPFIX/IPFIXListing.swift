/// The field → information element mapping of a plan's templates, for `flowgen features --ipfix`.
public struct IPFIXListing: Sendable {
    /// The templates to list.
    public let schema: IPFIXSchema

    /// Creates a listing.
    public init(schema: IPFIXSchema) { self.schema = schema }

    /// A header explaining the templates and element numbering, then one row per template field
    /// (IPv4 and IPv6 rows where the two differ).
    public func text() -> String {
        let pen = FlowgenIPFIX.privateEnterpriseNumber
        var out = """
        IPFIX (RFC 7011) for features \(schema.features.joined(separator: ",")):
          templates 256 IPv4 biflows, 257 IPv6 biflows, 258 IPv4 one-way flows, 259 IPv6 one-way flows (no reverse elements)
          reverse (RFC 5103): IANA elements under PEN \(FlowgenIPFIX.reverseEnterpriseNumber), enterprise elements with id | 0x4000
          flowgen's own elements: PEN \(pen), an unregistered placeholder; ids follow the plan order, so
          list them with the same --features as the run

        """
        let rows = mapping()
        let header = ["FIELD", "DIRECTION", "PEN", "ID", "LEN", "ELEMENT", "JSON"]
        var table = [header]
        for r in rows {
            table.append([r.field, r.direction, String(r.specifier.enterprise), String(r.specifier.id), String(r.specifier.length),
                          r.name, r.json + (r.note.isEmpty ? "" : " (\(r.note))")])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for row in table { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        for row in table {
            let line = row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
            out += line.trimmingTrailingSpaces() + "\n"
        }
        return out
    }

    /// One row of the mapping.
    public struct Row: Sendable, Equatable {
        /// Plan field (with bin index), or "key"/"flow" for flowgen's own fields.
        public var field: String
        /// forward, reverse, combined, or "-".
        public var direction: String
        /// Element id, length and enterprise number.
        public var specifier: IPFIXFieldSpecifier
        /// Element name.
        public var name: String
        /// The JSON column with the same value, or "".
        public var json: String
        /// "IPv4 only", "IPv6 only", or "".
        public var note: String
    }

    /// The rows: the IPv4 biflow template's fields, with the IPv6 variant after a field that differs.
    public func mapping() -> [Row] {
        guard let v4 = schema.template(id: IPFIXSchema.ipv4BiflowTemplateID),
              let v6 = schema.template(id: IPFIXSchema.ipv6BiflowTemplateID) else { return [] }
        var rows: [Row] = []
        for (a, b) in zip(v4.fields, v6.fields) {
            if a.specifier == b.specifier {
                rows.append(row(a, note: ""))
            } else {
                rows.append(row(a, note: "IPv4 only"))
                rows.append(row(b, note: "IPv6 only"))
            }
        }
        return rows
    }

    func row(_ f: IPFIXTemplateField, note: String) -> Row {
        let field: String
        if let p = f.planField {
            field = p + (isArray(p) ? "[\(f.element)]" : "")
        } else {
            field = "(flow)"
        }
        let direction = f.source.direction.map { "\($0)" } ?? "-"
        return Row(field: field, direction: direction, specifier: f.specifier, name: f.name, json: f.jsonName ?? "", note: note)
    }

    func isArray(_ planField: String) -> Bool {
        schema.templates[0].fields.contains { $0.planField == planField && $0.element > 0 }
    }
}
