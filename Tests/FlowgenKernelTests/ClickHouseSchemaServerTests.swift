import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// The legacy dialect on Debian 12's own ClickHouse (18.16), started by the test in a temporary
/// directory: `flowgen schema` output creates the table, and RowBinary rows read back as the flows
/// were made.
@Suite(.serialized) struct ClickHouseSchemaServerTests {
    /// A TCP biflow over IPv4 and a one-way UDP flow over IPv6, with values chosen by hand; what the
    /// server shows is checked against them, not against flowgen's output.
    @Test func debianServerTakesTheTableAndTheRows() throws {
        let server = try ClickHouseServer(prefix: "fgch")
        defer { server.stop() }
        #expect(try server.query("SELECT version()").hasPrefix("18.16"))

        // the DDL exactly as the command prints it
        let ddl = try ProcessRunner.run([try flowgenBinary(), "schema", "--clickhouse", "--features", "tcp", "--table", "default.flows_tcp"]).check().stdout
        try server.query(ddl)
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp")
        let schema = try ClickHouseSchema(plan: plan, dialect: .legacy)
        let types = try server.query("SELECT name, type FROM system.columns WHERE database = 'default' AND table = 'flows_tcp' FORMAT TSV")
            .split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(types.map { $0[0] } == schema.columns.map(\.name))
        #expect(types.map { ClickHouseSchema.normalizedType($0[1]) } == schema.columns.map { ClickHouseSchema.normalizedType($0.type) })
        // a table the server made from the DDL matches the schema
        #expect(schema.differences(from: types.map { (name: $0[0], type: $0[1]) }).isEmpty)

        let decoder = RecordDecoder(plan: plan)
        func record(_ key: FlowKey, _ set: [String: UInt64]) -> FlowRecord {
            var values = [UInt64](repeating: 0, count: decoder.columns.count)
            for (field, value) in set { values[decoder.firstColumn[field]!] = value }
            // the kernel marks the tcp module's fields sampled on TCP flows (presence bits)
            if key.proto == 6, let bit = FieldSampling(modules: plan.features).bit(of: "tcp_flags"),
               let words = decoder.firstColumn[FieldSampling.seenField] {
                values[words + bit.word] |= bit.mask
            }
            return FlowRecord(key: key, values: values)
        }
        let v4 = FlowKey(src: IPAddress16(ipv4: [198, 18, 0, 1]), dst: IPAddress16(ipv4: [198, 18, 0, 2]), sport: 40000, dport: 80, proto: 6, ipVersion: 4)
        var v6src = [UInt8](repeating: 0, count: 16), v6dst = v6src
        v6src[0] = 0xfd; v6src[15] = 1; v6dst[0] = 0xfd; v6dst[14] = 0x12; v6dst[15] = 0x34
        let v6 = FlowKey(src: IPAddress16(v6src), dst: IPAddress16(v6dst), sport: 5353, dport: 53, proto: 17, ipVersion: 6)
        // record times are ns since boot; the offset makes 5 s after boot 2023-11-14T22:13:20Z, so 5_000_001_000 ns is 1 µs past it
        let offset: Int64 = 1_700_000_000_000_000_000 - 5_000_000_000
        let flows = [
            Biflow(id: 7, forward: record(v4, ["packets": 3, "bytes": 180, "first_seen": 5_000_001_000, "last_seen": 5_000_900_000, "tcp_flags": 0x1b]),
                   reverse: record(v4.reversed(icmpKeyed: true), ["packets": 2, "bytes": 120, "first_seen": 5_000_002_000, "last_seen": 5_000_800_000, "tcp_flags": 0x12]),
                   endReason: .endOfFlow),
            Biflow(id: 8, forward: record(v6, ["packets": 1, "bytes": 61, "first_seen": 6_000_000_000, "last_seen": 6_000_000_000]),
                   reverse: nil, endReason: .endOfCapture),
        ]
        var rows: [UInt8] = []
        schema.appendRowBinary(flows, exporterID: Array("host-a".utf8), epochOffsetNs: offset, to: &rows)
        let file = server.directory + "/rows.bin"
        try Data(rows).write(to: URL(fileURLWithPath: file))
        let insert = schema.insertQuery("default.flows_tcp").addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        _ = try ProcessRunner.run(["curl", "-sS", "--fail-with-body", "--data-binary", "@" + file, server.url + "/?query=" + insert]).check()

        let answer = try server.query("""
            SELECT EXPORTER_ID, FLOW_ID, IPv4NumToString(IPV4_SRC_ADDR), IPv4NumToString(IPV4_DST_ADDR), IPv6NumToString(IPV6_SRC_ADDR),
                   IPv6NumToString(IPV6_DST_ADDR), L4_SRC_PORT, L4_DST_PORT, PROTOCOL, IN_PKTS, IN_BYTES, OUT_PKTS, OUT_BYTES,
                   FLOW_START_MICROSECONDS, FLOW_END_MICROSECONDS, FLOW_DURATION_MICROSECONDS, FLOW_END_REASON,
                   toDate(toDateTime(intDiv(FLOW_START_MICROSECONDS, 1000000))) = toDate('2023-11-14'), _partition_id
            FROM default.flows_tcp ORDER BY FLOW_ID FORMAT TSV
            """)
        #expect(answer == """
            host-a\t7\t198.18.0.1\t198.18.0.2\t\\N\t\\N\t40000\t80\t6\t3\t180\t2\t120\t1700000000000001\t1700000000000900\t899\tend of flow\t1\t20231114
            host-a\t8\t\\N\t\\N\tfd00::1\tfd00::1234\t5353\t53\t17\t1\t61\t0\t0\t1700000001000000\t1700000001000000\t0\tend of capture\t1\t20231114

            """)
        // tcp flags by direction and both: 0x1b | 0x12 = 0x1b; the UDP flow has none (NULL: the tcp
        // module does not apply to it, docs/modules.md)
        #expect(try server.query("SELECT CLIENT_TCP_FLAGS, SERVER_TCP_FLAGS, TCP_FLAGS FROM default.flows_tcp ORDER BY FLOW_ID FORMAT TSV") == "27\t18\t27\n\\N\t\\N\t\\N\n")
    }

    /// A table of other columns is told apart, naming each difference.
    @Test func differencesAreNamed() throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "base")
        let schema = try ClickHouseSchema(plan: plan, dialect: .legacy)
        var existing = schema.columns.map { (name: $0.name, type: $0.type) }
        existing.removeAll { $0.name == "OUT_BYTES" }
        existing[1].type = "UInt32"
        existing.append((name: "NOTE", type: "String"))
        let differences = schema.differences(from: existing)
        #expect(differences.contains("missing column OUT_BYTES UInt64"))
        #expect(differences.contains("column FLOW_ID is UInt32, flowgen writes UInt64"))
        #expect(differences.contains("extra column NOTE String that flowgen does not write"))
        // the modern spelling of a column is as good as the legacy one
        let modern = try ClickHouseSchema(plan: plan, dialect: .modern)
        #expect(schema.differences(from: modern.columns.map { (name: $0.name, type: $0.type) }).isEmpty)
    }
}
