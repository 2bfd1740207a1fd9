import FlowgenKernel
import FlowgenTestSupport
/// A plain-text table for the terminal: a title, a header row and aligned columns.
public struct BenchTable: Sendable {
    /// Shown above the table.
    public var title: String
    /// Column headings.
    public var header: [String]
    /// Cells, row by row (short rows are padded).
    public var rows: [[String]] = []
    /// Lines printed under the table (method notes, unavailable items).
    public var notes: [String] = []

    /// Creates an empty table.
    public init(title: String, header: [String]) {
        self.title = title
        self.header = header
    }

    /// Appends a row.
    public mutating func add(_ cells: [String]) {
        rows.append(cells)
    }

    /// The table as text; the first column is left-aligned, numbers right-aligned.
    public func render() -> String {
        let all = [header] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in all {
            for (i, cell) in row.enumerated() { widths[i] = Swift.max(widths[i], cell.count) }
        }
        func line(_ row: [String]) -> String {
            var parts: [String] = []
            for i in 0..<columns {
                let cell = i < row.count ? row[i] : ""
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                parts.append(i == 0 ? cell + pad : pad + cell)
            }
            return parts.joined(separator: "  ").trimmingTrailingBlanks()
        }
        var out = "== \(title) ==\n" + line(header) + "\n"
        out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for row in rows { out += line(row) + "\n" }
        for note in notes { out += note + "\n" }
        return out
    }
}

extension String {
    /// Drops trailing spaces (a table's last column is padded otherwise).
    func trimmingTrailingBlanks() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
