import Foundation
import Testing
@testable import FlowgenCore
import FlowgenTestSupport

/// The modern dialect (IPv4, IPv6, DateTime64, LowCardinality) against a current ClickHouse engine:
/// chdb, ClickHouse run in-process from Python, installed by scripts/setup.sh in .build/venv. The
/// engine creates the table from the DDL, then decodes RowBinary rows under the table's types; what
/// it reads must be what the flows hold.
@Suite struct ClickHouseModernTests {
    /// The Python of the virtual environment that has chdb.
    static func python() throws -> String {
        let root = URL(fileURLWithPath: try ResourceLocator.locate().features).deletingLastPathComponent().path
        let path = ProcessInfo.processInfo.environment["FLOWGEN_CHDB_PYTHON"] ?? root + "/.build/venv/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ClickHouseError.schema("no Python with chdb at \(path): run scripts/setup.sh, which creates .build/venv with chdb")
        }
        return path
    }

    /// Runs a chdb script with `arguments`, returns its standard output.
    static func chdb(_ script: String, _ arguments: [String]) throws -> String {
        let result = try ProcessRunner.run([try python(), "-c", script] + arguments, timeout: .seconds(300))
        guard result.succeeded else {
            throw ClickHouseError.schema("chdb failed: " + result.stderr)
        }
        return result.stdout
    }

    static let script = """
    import sys, chdb.session as cs
    ddl, data, table, select = [open(p).read() for p in sys.argv[1:5]]
    data = data.replace("'", "\\\\'")
    s = cs.Session(sys.argv[5])
    s.query(ddl)
    types = s.query(f"SELECT name, type FROM system.columns WHERE table = '{table}' ORDER BY position FORMAT TSV").bytes().decode()
    s.query(f"INSERT INTO {table} SELECT * FROM file('{sys.argv[6]}', RowBinary, '{data}')")
    count = s.query(f"SELECT count() FROM {table} FORMAT TSV").bytes().decode()
    rows = s.query(select.replace('{SOURCE}', f"file('{sys.argv[6]}', RowBinary, '{data}')")).bytes().decode()
    sys.stdout.write(types + "====\\n" + count + "====\\n" + rows)
    """

    /// Every plan of the formatter tests and `all`: the engine takes the DDL with the types we
    /// declared, and reads back every value of random flows (both IP versions, one-way flows, no-sample
    /// values, every end reason).
    @Test func modernTypesHoldEveryValue() throws {
        var plans = try FormatterBytesTests.plans()
        plans.append(("all", try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "all")))
        let work = NSTemporaryDirectory() + "fgch-chdb-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        for (name, plan) in plans {
            let schema = try ClickHouseSchema(plan: plan, dialect: .modern)
            let table = "flows_\(name)"
            let sizes = RecordDecoder(plan: plan).columns.map(\.size)
            // a record holds each field at its declared width, as the decoder reads it
            func narrowed(_ record: FlowRecord) -> FlowRecord {
                FlowRecord(key: record.key, values: zip(record.values, sizes).map { $1 == 8 ? $0 : $0 & ((1 << UInt64($1 * 8)) - 1) })
            }
            let flows = randomFlows(plan, count: 300, seed: 0xC11C + UInt64(name.utf8.count))
                .map { Biflow(id: $0.id, forward: narrowed($0.forward), reverse: $0.reverse.map(narrowed), endReason: $0.endReason) }
                .filter { flow in
                    // a v6 address in a v4 key (a corrupt key) has no IPv4 column value; left out here
                    let key = flow.forward.key
                    return key.ipVersion == 6 || (Self.isMapped(key.src) && Self.isMapped(key.dst))
                }
            var bytes: [UInt8] = []
            let offset: Int64 = 1_700_000_000_000_000_000
            schema.appendRowBinary(flows, exporterID: Array("probe-1".utf8), epochOffsetNs: offset, to: &bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(work)/\(name).bin"))
            let structure = schema.columns.map { "\(ClickHouseSchema.identifier($0.name)) \($0.type)" }.joined(separator: ", ")
            // every column as text the test can compare: addresses as numbers and hex bytes, times as µs
            let select = "SELECT " + schema.columns.map { column -> String in
                let id = ClickHouseSchema.identifier(column.name)
                if column.type.contains("IPv4") { return "toUInt32(\(id))" }
                if column.type.contains("IPv6") { return "hex(\(id))" }
                if column.type.contains("DateTime64") { return "toUnixTimestamp64Micro(\(id))" }
                // a real as its IEEE 754 bits, which no text rendering can round
                if column.type.contains("Float64") { return "if(isNull(\(id)), NULL, reinterpretAsUInt64(assumeNotNull(\(id))))" }
                return id
            }.joined(separator: ", ") + " FROM {SOURCE} FORMAT TSV"
            let files = [("ddl", schema.createTable(table)), ("structure", structure), ("table", table), ("select", select)]
            for (file, text) in files { try text.write(toFile: "\(work)/\(name).\(file)", atomically: true, encoding: .utf8) }
            let answer = try Self.chdb(Self.script, files.map { "\(work)/\(name).\($0.0)" } + ["\(work)/\(name).db", "\(work)/\(name).bin"])
            let parts = answer.components(separatedBy: "====\n")
            try #require(parts.count == 3, "chdb answered \(answer)")
            let types = parts[0].split(separator: "\n").map { $0.split(separator: "\t", maxSplits: 1).map(String.init) }
            #expect(types.map { $0[0] } == schema.columns.map(\.name), "plan \(name)")
            #expect(types.map { ClickHouseSchema.normalizedType($0[1]) } == schema.columns.map { ClickHouseSchema.normalizedType($0.type) }, "plan \(name)")
            #expect(parts[1] == "\(flows.count)\n", "plan \(name)")
            let rows = parts[2].split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            try #require(rows.count == flows.count, "plan \(name)")
            for (row, flow) in zip(rows, flows) {
                let expected = Self.expectedCells(schema, flow, offset)
                #expect(row == expected, "plan \(name) flow \(flow.id)")
                if row != expected { break }
            }
        }
    }

    static func isMapped(_ a: IPAddress16) -> Bool { a.bytes[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] }

    /// The TSV cells the engine should print for `flow`: from the output values (what JSON shows),
    /// with addresses from the key's bytes (IPv4 as a.b.c.d's number, IPv6 as its 16 bytes in hex).
    static func expectedCells(_ schema: ClickHouseSchema, _ flow: Biflow, _ offset: Int64) -> [String] {
        let values = schema.output.values(of: flow, epochOffsetNs: offset)
        let byName = Dictionary(uniqueKeysWithValues: zip(schema.output.columns.map(\.name), values))
        let key = flow.forward.key
        func number(_ value: OutputSchema.Value?) -> String {
            switch value {
            case let .number(n)?: return "\(n)"
            case let .real(r)?: return "\(r.bitPattern)"
            case let .list(l)?: return "[" + l.map(String.init).joined(separator: ",") + "]"
            case let .text(t)?: return t
            default: return "\\N"
            }
        }
        return schema.columns.map { column in
            switch column.name {
            case ClickHouseSchema.exporterColumn: return "probe-1"
            case "IPV4_SRC_ADDR", "IPV4_DST_ADDR":
                guard key.ipVersion == 4 else { return "\\N" }
                let b = (column.name == "IPV4_SRC_ADDR" ? key.src : key.dst).bytes
                return "\(UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15]))"
            case "IPV6_SRC_ADDR", "IPV6_DST_ADDR":
                guard key.ipVersion == 6 else { return "\\N" }
                return (column.name == "IPV6_SRC_ADDR" ? key.src : key.dst).bytes.map { String(format: "%02X", $0) }.joined()
            default:
                // a histogram with no sample is an empty array (docs/clickhouse.md), not an array of NULLs
                if !column.elements.isEmpty {
                    if column.elements.allSatisfy({ byName[$0] == nil || byName[$0] == .absent }) { return "[]" }
                    return "[" + column.elements.map { number(byName[$0]) }.joined(separator: ",") + "]"
                }
                return number(byName[column.name])
            }
        }
    }

    /// The dialect follows the server's version: DateTime64 arrived in 20.1.
    @Test func dialectFromServerVersion() {
        #expect(ClickHouseSchema.Dialect(serverVersion: "18.16.1") == .legacy)
        #expect(ClickHouseSchema.Dialect(serverVersion: "19.17.4.11") == .legacy)
        #expect(ClickHouseSchema.Dialect(serverVersion: "20.1.2.4") == .modern)
        #expect(ClickHouseSchema.Dialect(serverVersion: "26.9.2.1") == .modern)
        #expect(ClickHouseSchema.Dialect(serverVersion: "garbage") == .legacy)
    }

    /// Histogram bins become one array per direction, named by the bins' common prefix and suffix.
    @Test func histogramsBecomeArrays() throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "ttl,payload,pkt_len")
        let schema = try ClickHouseSchema(plan: plan, dialect: .legacy)
        let arrays = Dictionary(uniqueKeysWithValues: schema.columns.filter { !$0.elements.isEmpty }.map { ($0.name, $0) })
        #expect(arrays["SRC_NUM_PKTS_TTL"]?.elements.first == "SRC_NUM_PKTS_TTL_EQ_0")
        #expect(arrays["SRC_NUM_PKTS_TTL"]?.elements.count == 11)
        #expect(arrays["PAYLOAD_NIBBLE_IN"]?.elements.last == "PAYLOAD_NIBBLE_F_IN")
        #expect(arrays["PAYLOAD_NIBBLE_OUT"]?.elements.count == 16)
        #expect(arrays["NUM_PKTS_BYTES"]?.elements.first == "NUM_PKTS_UP_TO_128_BYTES")
        // u64 bins stay UInt64 combined; u8 TTLs stay UInt8 per direction
        #expect(arrays["NUM_PKTS_TTL"]?.type == "Array(UInt64)")
        // a u8 minimum; backwards it is absent for a one-way flow, as JSON leaves it out
        #expect(schema.columns.first { $0.name == "SRC_MIN_TTL" }?.type == "UInt8")
        #expect(schema.columns.first { $0.name == "DST_MIN_TTL" }?.type == "Nullable(UInt8)")
        // a sum of both directions' u8 would overflow a byte; packets are u64 already
        #expect(schema.columns.first { $0.name == "IN_PKTS" }?.type == "UInt64")
        let ddl = schema.createTable("flows")
        #expect(ddl.contains("PARTITION BY toYYYYMMDD(toDateTime(intDiv(FLOW_START_MICROSECONDS, 1000000)))"))
        #expect(ddl.contains("ORDER BY (FLOW_START_MICROSECONDS, EXPORTER_ID, FLOW_ID)"))
    }
}
