import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// Section 6: flows into ClickHouse. A server of the bench's own (Debian's `clickhouse-server`,
/// started as a daemon in a temporary directory on free loopback ports, removed at the end) takes
/// synthetic biflows of each preset through the real `ClickHouseExporter`, in batches of 10,000 as
/// the collector hands them over: the time from the first batch until `close()` returns (every row
/// inserted) gives rows/s, next to the RowBinary encoding alone. The target: the sink keeps up with
/// the collector, rows/s ≥ the collector section's JSON-pass flows/s for the same preset.
public final class ClickHouseBenchmark {
    let context: BenchContext

    /// Creates the section.
    public init(context: BenchContext) { self.context = context }

    /// Measures base and the other presets the profile runs.
    public func run() throws -> ClickHouseBenchResult {
        let server: ClickHouseServer
        do {
            server = try ClickHouseServer(prefix: "flowgen-bench")
        } catch {
            return ClickHouseBenchResult(available: false, reason: "\(error)", version: "", entries: [])
        }
        defer { server.stop() }
        let version = try server.query("SELECT version()").trimmingCharacters(in: .whitespacesAndNewlines)
        var entries: [ClickHouseBenchResult.Entry] = []
        for set in context.presetSets where set.selection != nil {
            do {
                entries.append(try measure(set, server: server))
            } catch {
                context.log("clickhouse: \(set.label) failed: \(error)")
            }
        }
        return ClickHouseBenchResult(available: true, reason: nil, version: version, entries: entries)
    }

    func measure(_ set: BenchFeatureSet, server: ClickHouseServer) throws -> ClickHouseBenchResult.Entry {
        let plan = try context.catalog.plan(features: set.selection ?? "base")
        let flows = context.options.quick ? 100_000 : 500_000
        let chunk = 10_000
        let decoder = RecordDecoder(plan: plan)
        var batch = BiflowBatch(valueCount: decoder.columns.count, capacity: chunk)
        var generator = SystemRandomNumberGenerator()
        for i in 0..<chunk {
            // plausible values: small counters, recent timestamps, addresses of the test range
            var values = (0..<decoder.columns.count).map { _ in UInt64.random(in: 0..<1000, using: &generator) }
            if let first = decoder.firstColumn["first_seen"] { values[first] = 1_000_000_000 + UInt64(i) * 1000 }
            if let last = decoder.firstColumn["last_seen"] { values[last] = 2_000_000_000 + UInt64(i) * 1000 }
            let key = FlowKey(src: IPAddress16(ipv4: [198, 18, UInt8(i >> 8 & 0xff), UInt8(i & 0xff)]), dst: IPAddress16(ipv4: [198, 19, 0, 1]),
                              sport: UInt16(truncatingIfNeeded: 1024 + i), dport: 443, proto: 6, ipVersion: 4)
            batch.append(Biflow(id: UInt64(i + 1), forward: FlowRecord(key: key, values: values),
                                reverse: FlowRecord(key: key.reversed(icmpKeyed: true), values: values), endReason: .idleTimeout))
        }
        let schema = try ClickHouseSchema(plan: plan, dialect: .legacy)
        var encodeSamples: [Double] = [], insertSamples: [Double] = []
        var bytes = 0
        let rounds = context.options.quick ? 1 : 3
        let offset = MonotonicClock.epochOffsetNs()
        for round in 0..<rounds {
            var buffer: [UInt8] = []
            buffer.reserveCapacity(chunk * 512)
            let e0 = Date()
            for _ in 0..<(flows / chunk) {
                buffer.removeAll(keepingCapacity: true)
                schema.appendRowBinary(batch, range: 0..<batch.count, exporterID: Array("bench".utf8), epochOffsetNs: offset, to: &buffer)
            }
            encodeSamples.append(Date().timeIntervalSince(e0))
            bytes = buffer.count / chunk
            let table = "bench_\(set.label.filter { $0.isLetter || $0.isNumber })_\(round)"
            let destination = try ClickHouseDestination(parsing: "\(server.url)/?database=default&table=\(table)")
            var options = ClickHouseExporter.Options()
            options.closeWait = 600
            let exporter = try ClickHouseExporter(plan: plan, destination: destination, exporterID: "bench", create: true,
                                                  spoolDirectory: server.directory + "/spool-\(table)", spoolBytes: 4 << 30,
                                                  options: options, epochOffsetNs: { offset }, log: CapturedLog { [context] in context.log("clickhouse: \($0)") }.logger)
            let t0 = Date()
            for _ in 0..<(flows / chunk) { try exporter.export(batch) }
            try exporter.close()
            insertSamples.append(Date().timeIntervalSince(t0))
            guard exporter.statistics.rowsInserted == flows else {
                throw BenchError.badFile(table, "\(exporter.statistics.rowsInserted) of \(flows) rows inserted")
            }
            try server.query("DROP TABLE default.\(table)")
        }
        let insert = BenchSamples(insertSamples), encode = BenchSamples(encodeSamples)
        return ClickHouseBenchResult.Entry(preset: set.label, flows: flows, columns: schema.columns.count, bytesPerRow: bytes,
                                           encodeSeconds: encode, insertSeconds: insert,
                                           encodeRowsPerSecond: Double(flows) / encode.median, rowsPerSecond: Double(flows) / insert.median)
    }
}

/// What the ClickHouse section measured.
public struct ClickHouseBenchResult: Codable, Sendable {
    /// One preset's figures.
    public struct Entry: Codable, Sendable {
        /// Preset name.
        public var preset: String
        /// Biflows inserted per round.
        public var flows: Int
        /// Columns of the table.
        public var columns: Int
        /// RowBinary bytes per row.
        public var bytesPerRow: Int
        /// Seconds to encode every row (no sending).
        public var encodeSeconds: BenchSamples
        /// Seconds from the first batch handed over until every row was inserted.
        public var insertSeconds: BenchSamples
        /// Rows encoded per second (median).
        public var encodeRowsPerSecond: Double
        /// Rows inserted per second (median).
        public var rowsPerSecond: Double
    }

    /// Whether a server could be started.
    public var available: Bool
    /// Why not.
    public var reason: String?
    /// The server's version.
    public var version: String
    /// Per preset.
    public var entries: [Entry]

    /// Missed targets, against the collector's JSON-pass flows/s of the same run (when measured).
    public func misses(collector: CollectorBenchResult?) -> [String] {
        guard available else { return ["clickhouse: no server (\(reason ?? "")), its target is unchecked"] }
        return entries.compactMap { entry in
            guard let pass = collector?.entries.first(where: { $0.preset == entry.preset })?.flowsPerSecond, entry.rowsPerSecond < pass else { return nil }
            return "clickhouse: \(entry.preset) inserts \(BenchFormat.rate(entry.rowsPerSecond)) rows/s, below the collector's \(BenchFormat.rate(pass)) flows/s"
        }
    }

    /// The table.
    public func render(collector: CollectorBenchResult?) -> String {
        var table = BenchTable(title: "ClickHouse \(version) on loopback, RowBinary over HTTP (medians)",
                               header: ["preset", "columns", "bytes/row", "encode rows/s", "insert rows/s", "collector flows/s", "target"])
        guard available else {
            table.add(["", "not available", "", "", "", "", reason ?? ""])
            return table.render()
        }
        for entry in entries {
            let pass = collector?.entries.first { $0.preset == entry.preset }?.flowsPerSecond
            table.add([entry.preset, "\(entry.columns)", "\(entry.bytesPerRow)", BenchFormat.rate(entry.encodeRowsPerSecond),
                       BenchFormat.rate(entry.rowsPerSecond), pass.map(BenchFormat.rate) ?? "(not run)",
                       pass.map { "≥ collector " + BenchFormat.verdict(entry.rowsPerSecond >= $0) } ?? ""])
        }
        return table.render()
    }
}
