import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

/// `flowgen run --clickhouse` live on a veth pair, into a ClickHouse server started by the test on
/// the monitor namespace's own loopback (so the inserts are not traffic on the monitored veth).
@Suite(.serialized) struct ClickHouseLiveTests {
    /// The server is SIGKILLed while flows are being exported and started again 4 s later: the
    /// batches of the outage wait in the spool and every flow ends up in the table exactly once.
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
                                            "--log", log])
        try lab.waitForAttach(monitor, log: log)
        // 400 one-packet UDP flows to ports 9300..9699 over 8 s; the outage falls in the middle
        let flows = 400
        let sender = try lab.a.spawn(["python3", "-c", udpFlowSender, "7300", "198.18.0.99", "9300", "\(flows)", "1", "25", "0.5"])
        Thread.sleep(forTimeInterval: 2.5)
        server.kill()
        Thread.sleep(forTimeInterval: 4)
        try server.start()
        #expect(sender.wait(timeout: .seconds(30)) == 0, "\(sender.output())")
        let sent = Int(sender.output().trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(sent == flows)
        var count = ""
        let arrived = try lab.wait(40) {
            count = (try? server.query("SELECT count() FROM live.flows WHERE L4_DST_PORT BETWEEN 9300 AND 9699 FORMAT TSV")) ?? ""
            return count == "\(flows)\n"
        }
        kill(monitor.pid, SIGINT)
        #expect(monitor.wait(timeout: .seconds(30)) == 0, "\(monitor.output())")
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? monitor.output()
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
}
