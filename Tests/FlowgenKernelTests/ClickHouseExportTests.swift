import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// `--clickhouse` end to end on Debian's clickhouse-server 18.16, started by the test: a replayed
/// capture lands in the table once per flow with the values of the JSON output, credentials stay
/// out of every message, and a table of other columns is refused naming the difference.
@Suite(.serialized) struct ClickHouseExportTests {
    @Test func replayedCaptureLandsOnceWithTheJSONValues() throws {
        let server = try ClickHouseServer(prefix: "fgch")
        defer { server.stop() }
        let flowgen = try flowgenBinary()
        let capture = URL(fileURLWithPath: try ResourceLocator.locate().features).deletingLastPathComponent().path
            + "/Tests/Captures/tcpdump-tests/pim-packet-assortment.pcap"
        let user = ClickHouseServer.passwordUser
        // the password in the URL, percent-encoded as URLs need
        let password = user.password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let url = "http://\(user.name):\(password)@\(server.host):\(server.httpPort)/?database=flowdb&table=replayed"
        let result = try ProcessRunner.run([flowgen, "replay", capture, "--features", "tcp,icmp,ttl", "--format", "json",
                                            "--clickhouse", url, "--clickhouse-create", "--exporter-id", "corpus-a",
                                            "--clickhouse-spool", server.directory + "/spool"], timeout: .seconds(120)).check()
        #expect(!result.stderr.contains(user.password) && !result.stderr.contains(password), "the password must never be printed: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count >= 20)

        // rows read back with curl, addresses as text, nulls left out as JSON leaves them out
        let schema = try ClickHouseSchema(plan: FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp,ttl"), dialect: .legacy)
        let select = schema.columns.map { column -> String in
            let id = ClickHouseSchema.identifier(column.name)
            if column.name.hasPrefix("IPV4_") { return "IPv4NumToString(\(id)) AS c_\(column.name)" }
            if column.name.hasPrefix("IPV6_") { return "IPv6NumToString(\(id)) AS c_\(column.name)" }
            return "\(id) AS c_\(column.name)"
        }.joined(separator: ", ")
        let answer = try server.query("SELECT \(select) FROM flowdb.replayed ORDER BY FLOW_ID FORMAT JSONEachRow")
        let rows = answer.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(rows.count == lines.count)
        #expect(try server.query("SELECT uniqExact(FLOW_ID), uniqExact(EXPORTER_ID), any(EXPORTER_ID) FROM flowdb.replayed FORMAT TSV") == "\(lines.count)\t1\tcorpus-a\n")
        let byID = Dictionary(uniqueKeysWithValues: lines.map { ($0["FLOW_ID"] as! NSNumber).uint64Value }.enumerated().map { ($1, lines[$0]) })
        for row in rows {
            // one JSON object per row: array columns spread back to their bins' names, nulls dropped
            var flat: [String: String] = [:]
            for column in schema.columns where column.name != ClickHouseSchema.exporterColumn {
                guard let value = row["c_" + column.name], !(value is NSNull) else { continue }
                if let array = value as? [Any] {
                    for (name, element) in zip(column.elements, array) { flat[name] = "\(element)" }
                } else {
                    flat[column.name] = "\(value)"
                }
            }
            let id = UInt64(flat["FLOW_ID"] ?? "") ?? 0
            let json = try #require(byID[id], "FLOW_ID \(id) is in the table but not in the JSON output")
            #expect(flat == json.mapValues { "\($0)" }, "FLOW_ID \(id)")
        }

        // the same table with another feature set is refused, naming the difference
        let refused = try ProcessRunner.run([flowgen, "replay", capture, "--features", "tcp", "--format", "none",
                                             "--clickhouse", url, "--exporter-id", "corpus-b",
                                             "--clickhouse-spool", server.directory + "/spool"], timeout: .seconds(120))
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("extra column SRC_MIN_TTL"), "\(refused.stderr)")
        #expect(!refused.stderr.contains(user.password) && !refused.stderr.contains(password))
        // a missing table without --clickhouse-create says how to make it
        let missing = try ProcessRunner.run([flowgen, "replay", capture, "--format", "none", "--clickhouse-spool", server.directory + "/spool",
                                             "--clickhouse", "http://\(user.name):\(password)@\(server.host):\(server.httpPort)/?database=flowdb&table=nope"], timeout: .seconds(60))
        #expect(missing.status != 0 && missing.stderr.contains("flowdb.nope does not exist: pass --clickhouse-create"), "\(missing.stderr)")
        // a wrong password is refused with the server's word, and not echoed
        let wrong = try ProcessRunner.run([flowgen, "replay", capture, "--format", "none", "--clickhouse-spool", server.directory + "/spool", "--clickhouse",
                                           "http://\(user.name):nope-secret@\(server.host):\(server.httpPort)/?database=flowdb&table=replayed"], timeout: .seconds(60))
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("refused") && !wrong.stderr.contains("nope-secret"), "\(wrong.stderr)")
        // the password can come from the environment instead of the URL
        let table = try ProcessRunner.run(["env", "FLOWGEN_CLICKHOUSE_PASSWORD=\(user.password)", flowgen, "replay", capture,
                                           "--features", "tcp,icmp,ttl", "--format", "none", "--exporter-id", "corpus-c",
                                           "--clickhouse-spool", server.directory + "/spool", "--clickhouse",
                                           "http://\(user.name)@\(server.host):\(server.httpPort)/?database=flowdb&table=replayed"], timeout: .seconds(120))
        #expect(table.status == 0, "\(table.stderr)")
        #expect(try server.query("SELECT count() FROM flowdb.replayed WHERE EXPORTER_ID = 'corpus-c' FORMAT TSV") == "\(lines.count)\n")
    }

    /// Flows exported while the server is down wait in the spool (files of mode 0600), survive the
    /// exporter's close, and the next exporter on the same spool sends them first, each once.
    @Test func spoolKeepsWhatTheServerMissedForTheNextRun() throws {
        let server = try ClickHouseServer(prefix: "fgch")
        defer { server.stop() }
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "base")
        let destination = try ClickHouseDestination(parsing: "\(server.url)/?database=default&table=spooled")
        let spool = server.directory + "/spool"
        let messages = CapturedLog()
        func exporter() throws -> ClickHouseExporter {
            var options = ClickHouseExporter.Options()
            options.closeWait = 1
            return try ClickHouseExporter(plan: plan, destination: destination, exporterID: "lab", create: true, spoolDirectory: spool,
                                          spoolBytes: 1 << 20, options: options, epochOffsetNs: { 0 }, log: messages.logger)
        }
        let decoder = RecordDecoder(plan: plan)
        func flows(_ ids: Range<UInt64>) -> [Biflow] {
            ids.map { id in
                var values = [UInt64](repeating: 0, count: decoder.columns.count)
                values[decoder.firstColumn["packets"]!] = id
                values[decoder.firstColumn["first_seen"]!] = 1_000_000_000 * id
                let key = FlowKey(src: IPAddress16(ipv4: [198, 18, 0, 1]), dst: IPAddress16(ipv4: [198, 18, 0, 2]),
                                  sport: UInt16(id), dport: 53, proto: 17, ipVersion: 4)
                return Biflow(id: id, forward: FlowRecord(key: key, values: values), reverse: nil, endReason: .idleTimeout)
            }
        }
        let first = try exporter()
        try first.export(flows(1..<101))
        server.kill()
        try first.export(flows(101..<201))
        try first.close()
        #expect(first.statistics.rowsLost == 0)
        #expect(first.statistics.rowsSpooled + first.statistics.rowsInserted == 200, "\(first.statistics)")
        #expect(first.statistics.rowsSpooled >= 100, "\(first.statistics)")
        let files = try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".batch") }
        #expect(!files.isEmpty)
        for file in files {
            let mode = (try FileManager.default.attributesOfItem(atPath: spool + "/" + file)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600, "\(file)")
        }
        #expect((try FileManager.default.attributesOfItem(atPath: spool)[.posixPermissions] as? NSNumber)?.intValue == 0o700)

        try server.start()
        let second = try exporter()
        try second.export(flows(201..<251))
        try second.close()
        #expect(second.statistics.rowsSpooled == 0 && second.statistics.rowsLost == 0, "\(second.statistics)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".batch") }.isEmpty)
        #expect(try server.query("SELECT count(), uniqExact(FLOW_ID), min(FLOW_ID), max(FLOW_ID), sum(IN_PKTS) FROM default.spooled FORMAT TSV")
                == "250\t250\t1\t250\t\((1...250).reduce(0, +))\n")
        #expect(messages.all.contains { $0.contains("earlier run in the spool") }, "\(messages.text)")

        // a spool too small for a batch: what cannot be kept is given up, logged, counted and in the metrics
        let metrics = CollectorMetrics()
        var options = ClickHouseExporter.Options()
        options.closeWait = 0.5
        let small = try ClickHouseExporter(plan: plan, destination: destination, exporterID: "lab", create: false, spoolDirectory: spool + "-small",
                                           spoolBytes: 1000, options: options, metrics: metrics, epochOffsetNs: { 0 },
                                           log: messages.logger)
        server.kill()
        try small.export(flows(300..<400))
        try small.close()
        #expect(small.statistics.rowsLost == 100 && small.statistics.rowsInserted == 0, "\(small.statistics)")
        #expect(messages.all.contains { $0.contains("error: ClickHouse: 100 flows lost") && $0.contains("spool") }, "\(messages.text)")
        let text = metrics.prometheusText()
        #expect(text.contains("flowgen_flows_lost_total 100\n") && text.contains("flowgen_clickhouse_flows_lost_total 100\n"), "\(text)")
    }

    /// The README's cluster setup and first queries, on 18.16: a `Distributed` table over the local
    /// one (a cluster of one shard), agents writing to it, top talkers and flows per protocol per minute.
    @Test func clusterSetupAndFirstQueriesOfTheReadme() throws {
        let server = try ClickHouseServer(prefix: "fgch")
        defer { server.stop() }
        let flowgen = try flowgenBinary()
        let root = URL(fileURLWithPath: try ResourceLocator.locate().features).deletingLastPathComponent().path
        let capture = root + "/Tests/Captures/tcpdump-tests/pim-packet-assortment.pcap"
        try server.query("CREATE DATABASE IF NOT EXISTS flows")
        try server.query(try ProcessRunner.run([flowgen, "schema", "--clickhouse", "--features", "tcp,icmp", "--table", "flows.flows_local"]).check().stdout)
        try server.query("CREATE TABLE IF NOT EXISTS flows.flows AS flows.flows_local ENGINE = Distributed(flows, flows, flows_local, cityHash64(EXPORTER_ID))")
        let json = try ProcessRunner.run([flowgen, "replay", capture, "--features", "tcp,icmp", "--exporter-id", "edge-1",
                                          "--clickhouse", "\(server.url)/?database=flows&table=flows", "--clickhouse-spool", server.directory + "/spool"],
                                         timeout: .seconds(120)).check().stdout
        let lines = json.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        // the Distributed table forwards in the background: wait for every row on the shard
        var count = ""
        _ = try waitUntil(20, every: 0.2) {
            count = try server.query("SELECT count() FROM flows.flows_local FORMAT TSV")
            return count == "\(lines.count)\n"
        }
        #expect(count == "\(lines.count)\n")
        // top talkers, by hand from the JSON lines: bytes both ways per IPv4 source
        var bytes: [String: Int] = [:], flows: [String: Int] = [:]
        for line in lines {
            guard let src = line["IPV4_SRC_ADDR"] as? String else { continue }
            bytes[src, default: 0] += (line["IN_BYTES"] as! Int) + (line["OUT_BYTES"] as! Int)
            flows[src, default: 0] += 1
        }
        let top = bytes.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(10)
        let talkers = try server.query("""
            SELECT IPv4NumToString(IPV4_SRC_ADDR) AS src, sum(IN_BYTES + OUT_BYTES) AS bytes, count() AS flows
            FROM flows.flows
            WHERE FLOW_START_MICROSECONDS >= 0 AND IPV4_SRC_ADDR IS NOT NULL
            GROUP BY src ORDER BY bytes DESC, src ASC LIMIT 10 FORMAT TSV
            """)
        #expect(talkers == top.map { "\($0.key)\t\($0.value)\t\(flows[$0.key]!)\n" }.joined())
        // flows per protocol per minute, per agent
        var perMinute: [String: Int] = [:]
        for line in lines {
            let minute = (line["FLOW_START_MICROSECONDS"] as! Int) / 60_000_000 * 60
            perMinute["\(minute)\tedge-1\t\(line["PROTOCOL"] as! Int)", default: 0] += 1
        }
        let protocols = try server.query("""
            SELECT toUnixTimestamp(toStartOfMinute(toDateTime(intDiv(FLOW_START_MICROSECONDS, 1000000)))) AS minute, EXPORTER_ID, PROTOCOL, count() AS flows
            FROM flows.flows
            GROUP BY minute, EXPORTER_ID, PROTOCOL ORDER BY minute, EXPORTER_ID, PROTOCOL FORMAT TSV
            """)
        #expect(protocols == perMinute.sorted { $0.key.split(separator: "\t").map { Int($0) ?? 0 }.lexicographicallyPrecedes($1.key.split(separator: "\t").map { Int($0) ?? 0 }) }
            .map { "\($0.key)\t\($0.value)\n" }.joined())
    }
}
