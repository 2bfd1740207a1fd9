import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// `flowgen run --clickhouse` live on a veth pair, into a ClickHouse server started by the test on
/// the monitor namespace's own loopback (so the inserts are not traffic on the monitored veth).
@Suite(.serialized) struct ClickHouseLiveTests {
    /// The server is SIGKILLed while flows are being exported and started again once flowgen has
    /// spooled flows of the outage: the batches of the outage wait in the spool and every flow ends up in the table exactly once.
    @Test func serverKilledMidRunLosesAndDuplicatesNothing() throws {
        let lab = try OperationsLab(prefix: "fgch")
        defer { lab.close() }
        try lab.addBlackhole()
        let server = try ClickHouseServer(prefix: "fgch", namespace: lab.a)
        defer { server.stop() }
        let log = lab.work + "/run.log"
        let monitor = try lab.spawnFlowgen(["run", "-i", lab.veth.nameA, "--interval", "0.2", "--idle-timeout", "1", "--format", "none",
                                            "--clickhouse", "http://127.0.0.1:\(server.httpPort)/?database=live&table=flows",
                                            "--clickhouse-create", "--exporter-id", "veth-a", "--clickhouse-spool", lab.work + "/spool",
                                            "--metrics", "127.0.0.1:9465", "--log", log])
        try lab.waitForAttach(monitor, log: log)
        // 400 one-packet UDP flows to ports 9300..9699 over 8 s; the outage falls in the middle
        let flows = 400
        let sender = try lab.a.spawn(["python3", "-c", udpFlowSender, "7300", "198.18.0.99", "9300", "\(flows)", "1", "25", "0.5"])
        // the outage falls in the middle of the export: the server is killed once it holds some of
        // the flows, and started again once flowgen keeps batches of the outage in its spool
        let someArrived = waitUntil(20) {
            let n = (try? server.query("SELECT count() FROM live.flows WHERE L4_DST_PORT BETWEEN 9300 AND 9699 FORMAT TSV")) ?? ""
            return (Int(n.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0
        }
        #expect(someArrived, "no flow reached the server within 20 s")
        server.kill()
        let spooled = waitUntil(20) {
            let metrics = (try? lab.a.exec(["curl", "-s", "http://127.0.0.1:9465/metrics"]).stdout) ?? ""
            return metrics.split(separator: "\n").contains { $0.hasPrefix("flowgen_clickhouse_flows_spooled ") && !$0.hasSuffix(" 0") }
        }
        #expect(spooled, "flowgen spooled nothing while the server was down")
        try server.start()
        #expect(sender.wait(timeout: .seconds(30)) == 0, "\(sender.output())")
        let sent = Int(sender.output().trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(sent == flows)
        var count = ""
        let arrived = lab.wait(40) {
            count = (try? server.query("SELECT count() FROM live.flows WHERE L4_DST_PORT BETWEEN 9300 AND 9699 FORMAT TSV")) ?? ""
            return count == "\(flows)\n"
        }
        let metrics = (try? lab.a.exec(["curl", "-s", "http://127.0.0.1:9465/metrics"]).stdout) ?? ""
        kill(monitor.pid, SIGINT)
        #expect(monitor.wait(timeout: .seconds(30)) == 0, "\(monitor.output())")
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? monitor.output()
        // the server's 400 and flowgen's own count of what it inserted agree; nothing is counted lost
        let inserted = metrics.split(separator: "\n").first { $0.hasPrefix("flowgen_clickhouse_rows_inserted_total ") }
            .flatMap { Int($0.split(separator: " ")[1]) } ?? -1
        #expect(inserted >= flows && metrics.contains("flowgen_flows_lost_total 0\n") && metrics.contains("flowgen_clickhouse_flows_spooled 0\n"), "\(metrics)")
        #expect(arrived, "\(count) rows of \(flows); log:\n\(text)")
        // each destination port once: nothing lost, nothing twice
        #expect(try server.query("""
            SELECT count(), uniqExact(L4_DST_PORT), min(L4_DST_PORT), max(L4_DST_PORT), sum(IN_PKTS), uniqExact(EXPORTER_ID)
            FROM live.flows WHERE L4_DST_PORT BETWEEN 9300 AND 9699 FORMAT TSV
            """) == "\(flows)\t\(flows)\t9300\t9699\t\(flows)\t1\n")
        // the outage was seen and the spool did the work
        #expect(text.contains("kept in the spool") && text.contains("inserting again after an outage"), "\(text)")
        #expect(text.contains("0 flows lost"), "\(text)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: lab.work + "/spool").allSatisfy { name in
            (try? FileManager.default.contentsOfDirectory(atPath: lab.work + "/spool/" + name))?.filter { $0.hasSuffix(".batch") }.isEmpty ?? true
        })
    }

    /// Three agents, each in a network namespace of its own (three "hosts") joined to a fourth that
    /// runs the server, write into one table: every flow of each once, told apart by EXPORTER_ID.
    @Test func threeAgentsShareOneTable() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let hub = try NetworkNamespace(prefix: "fgch")
        var agents: [NetworkNamespace] = [], pairs: [VethPair] = [], monitors: [SpawnedProcess] = []
        let work = NSTemporaryDirectory() + "fgch-agents-\(UUID().uuidString)"
        var server: ClickHouseServer?
        defer {
            for monitor in monitors { monitor.terminate() }
            server?.stop()
            for agent in agents {
                for name in InstanceStore.names() where name.hasSuffix("@" + agent.name) { OperationsLab.forget(instance: name) }
            }
            for pair in pairs { pair.destroy() }
            for namespace in agents + [hub] { try? namespace.destroy() }
            try? FileManager.default.removeItem(atPath: work)
        }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        for i in 1...3 {
            let agent = try NetworkNamespace(prefix: "fgch")
            agents.append(agent)
            pairs.append(try VethPair(VethPair.Endpoint(agent, ipv4: "198.18.\(i).1/24"), VethPair.Endpoint(hub, ipv4: "198.18.\(i).2/24")))
            // frames to .99 leave the agent and are dropped by the hub (not its MAC): no replies
            try agent.exec(["ip", "neigh", "replace", "198.18.\(i).99", "lladdr", "02:00:00:00:00:99", "dev", pairs[i - 1].nameA]).check()
        }
        server = try ClickHouseServer(prefix: "fgch", host: "0.0.0.0", namespace: hub)
        for (i, agent) in agents.enumerated() {
            let log = work + "/agent\(i + 1).log"
            monitors.append(try SpawnedProcess(argv: [flowgen, "run", "-i", pairs[i].nameA, "--interval", "0.2", "--idle-timeout", "1",
                                                      "--format", "none", "--clickhouse", "http://198.18.\(i + 1).2:8123/?database=multi&table=flows",
                                                      "--clickhouse-create", "--exporter-id", "host-\(i + 1)",
                                                      "--clickhouse-spool", work + "/spool\(i + 1)", "--log", log],
                                               launcher: ["nsenter", "--net=" + agent.path]))
        }
        for (i, agent) in agents.enumerated() {
            let attached = try waitUntil(60) { !(try agent.exec(["tc", "filter", "show", "dev", pairs[i].nameA, "ingress"]).stdout.isEmpty) }
            try #require(attached && monitors[i].isRunning, "agent \(i + 1) did not attach: \(monitors[i].output()) \((try? String(contentsOfFile: work + "/agent\(i + 1).log", encoding: .utf8)) ?? "")")
        }
        // 100 one-packet UDP flows per agent, to ports 9400..9499 of its blackhole
        let sender = "import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            + "for p in range(9400, 9500): s.sendto(b'x' * 20, (sys.argv[1], p))\nprint(100)"
        for (i, agent) in agents.enumerated() {
            #expect(try agent.exec(["python3", "-c", sender, "198.18.\(i + 1).99"]).check().stdout == "100\n")
        }
        let query = """
            SELECT EXPORTER_ID, count(), uniqExact(L4_DST_PORT), any(IPv4NumToString(IPV4_SRC_ADDR)), any(IPv4NumToString(IPV4_DST_ADDR))
            FROM multi.flows WHERE L4_DST_PORT BETWEEN 9400 AND 9499 AND PROTOCOL = 17 GROUP BY EXPORTER_ID ORDER BY EXPORTER_ID FORMAT TSV
            """
        let expected = (1...3).map { "host-\($0)\t100\t100\t198.18.\($0).1\t198.18.\($0).99\n" }.joined()
        var answer = ""
        _ = waitUntil(30, every: 0.3) {
            answer = (try? server!.query(query)) ?? ""
            return answer == expected
        }
        for monitor in monitors { kill(monitor.pid, SIGINT) }
        for (i, monitor) in monitors.enumerated() { #expect(monitor.wait(timeout: .seconds(30)) == 0, "agent \(i + 1): \(monitor.output())") }
        #expect(answer == expected)
    }
}
