import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// The real binary exporting the same run as JSON lines and as IPFIX to an nfcapd on the
/// namespace's loopback: nfdump's view of every biflow must equal flowgen's JSON.
@Suite(.serialized) struct IPFIXEndToEndTests {
    @Test func liveRunExportsTheSameBiflowsAsIPFIXAndJSON() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let nfdump = try #require(["/usr/bin/nfdump", "/usr/local/bin/nfdump"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                  "nfdump is not installed: run scripts/setup.sh")
        let hosts = try NamespacePair(prefix: "fgipfix")
        defer { hosts.close() }
        let (a, b, veth) = (hosts.a, hosts.b, hosts.veth)
        let work = hosts.work
        try FileManager.default.createDirectory(atPath: work + "/nfcapd", withIntermediateDirectories: true)

        // the collector on the monitoring namespace's own loopback (flowgen does not watch lo)
        let collector = try a.spawn(["nfcapd", "-4", "-b", "127.0.0.1", "-p", "4739", "-w", work + "/nfcapd", "-t", "3600"])
        defer { collector.terminate() }
        #expect(waitUntil(10) { collector.output().contains("Startup nfcapd") || !collector.isRunning }, "nfcapd: \(collector.output())")
        let server = try b.spawn(["python3", "-m", "http.server", "--bind", "198.18.0.2", "8080"])
        defer { server.terminate() }
        try b.waitUntilListening(host: "198.18.0.2", port: 8080)
        let monitor = try a.spawn([flowgen, "run", "-i", veth.nameA, "--features", "tcp,icmp", "--interval", "0.5",
                                   "--output", work + "/flows", "--ipfix", "udp://127.0.0.1:4739", "--ipfix-domain", "4242",
                                   "--log", work + "/flowgen.log"])
        defer { monitor.terminate() }
        try waitForAttach(a, veth.nameA, log: work + "/flowgen.log")

        try a.exec(["ping", "-c", "3", "-i", "0.2", "198.18.0.2"]).check()
        try a.exec(["ping", "-6", "-c", "2", "-i", "0.2", "fd00::2"]).check()
        #expect(try a.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://198.18.0.2:8080/"]).check().stdout == "200")
        try a.exec(["python3", "-c", """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("198.18.0.1", 5555))
        for _ in range(5): s.sendto(b"x" * 100, ("198.18.0.2", 9999))
        """]).check()
        // the TCP flow ends by FIN and goes out while running, before the SIGINT that forces the rest out
        #expect(waitUntil(15) { flowFilesHaveLine(in: work + "/flows", containing: ["\"L4_DST_PORT\":8080", "\"end of flow\""]) },
                "the HTTP flow was not exported by FIN within 15 s")
        kill(monitor.pid, SIGINT)
        let status = monitor.wait(timeout: .seconds(20))
        let log = (try? String(contentsOfFile: work + "/flowgen.log", encoding: .utf8)) ?? ""
        #expect(status == 0, "flowgen exited with \(String(describing: status)): \(monitor.output()) \(log)")
        #expect(log.contains("ipfix udp://127.0.0.1:4739:") && log.contains("0 send failures, 0 flows lost"), "the run's log reports the IPFIX counters: \(log)")
        // nfcapd has read every datagram before it is stopped
        #expect(waitUntil(5) { udpQueueDrained(a, port: 4739) }, "nfcapd left datagrams unread")
        collector.terminate()
        let collectorLog = collector.output()
        #expect(collectorLog.contains("Observation domain 4242") && collectorLog.contains("Sequence Errors: 0"), "\(collectorLog)")

        let files = try FileManager.default.contentsOfDirectory(atPath: work + "/flows")
        let text = try String(contentsOfFile: work + "/flows/" + files[0], encoding: .utf8)
        let flows = try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
        let r = try ProcessRunner.run([nfdump, "-R", work + "/nfcapd", "-o", "raw", "-q"]).check()
        let records = rawRecords(r.stdout)
        #expect(records.count == flows.count, "nfdump has \(records.count) flows, JSON \(flows.count)")
        #expect(flows.count >= 4)

        func int(_ f: [String: Any], _ k: String) -> UInt64? { (f[k] as? Int).map(UInt64.init) }
        func num(_ v: String?) -> UInt64? {
            guard let t = v?.split(separator: " ").first else { return nil }
            return t.hasPrefix("0x") ? UInt64(t.dropFirst(2), radix: 16) : UInt64(t)
        }
        let reasons = ["idle timeout": 1, "active timeout": 2, "end of flow": 3, "forced": 4, "lack of resources": 5]
        for f in flows {
            let proto = try #require(int(f, "PROTOCOL"))
            let src = (f["IPV4_SRC_ADDR"] ?? f["IPV6_SRC_ADDR"]) as? String
            let dst = (f["IPV4_DST_ADDR"] ?? f["IPV6_DST_ADDR"]) as? String
            let isICMP = proto == 1 || proto == 58
            let icmp = int(f, "ICMP_TYPE").map { "\($0 >> 8).\($0 & 0xff) " }
            let match = records.first { rec in
                num(rec["proto"]) == proto && rec["src addr"] == src && rec["dst addr"] == dst
                    && (isICMP ? icmp.map { rec["ICMP"]?.hasPrefix($0) == true } ?? false : num(rec["src port"]) == int(f, "L4_SRC_PORT"))
            }
            let rec = try #require(match, "no nfdump record for \(f)")
            if !isICMP { #expect(num(rec["dst port"]) == int(f, "L4_DST_PORT")) }
            #expect(num(rec["in packets"]) == int(f, "IN_PKTS") && num(rec["in bytes"]) == int(f, "IN_BYTES"), "\(f) vs \(rec)")
            #expect((num(rec["out packets"]) ?? 0) == int(f, "OUT_PKTS") && (num(rec["out bytes"]) ?? 0) == int(f, "OUT_BYTES"), "\(f) vs \(rec)")
            // the two exporters read the clock offset separately: allow a millisecond boundary between them
            let first = try #require(num(rec["first"])), last = try #require(num(rec["last"]))
            let start = try #require(int(f, "FLOW_START_MICROSECONDS")) / 1000, end = try #require(int(f, "FLOW_END_MICROSECONDS")) / 1000
            #expect(first + 1 >= start && first <= start + 1 && last + 1 >= end && last <= end + 1, "\(f) vs \(rec)")
            #expect(num(rec["end reason"]) == reasons[f["FLOW_END_REASON"] as? String ?? ""].map(UInt64.init), "\(f) vs \(rec)")
            if proto == 6 { #expect(num(rec["tcp flags"]) == int(f, "CLIENT_TCP_FLAGS"), "\(f) vs \(rec)") }
        }
        let http = try #require(flows.first { int($0, "L4_DST_PORT") == 8080 })
        #expect(http["FLOW_END_REASON"] as? String == "end of flow" && (int(http, "OUT_PKTS") ?? 0) > 0)
        _ = server
    }

    @Test func ipfixOptionsAreCheckedAndFeaturesListsTheMapping() throws {
        let flowgen = try flowgenBinary()
        let cases: [([String], String)] = [
            (["run", "-i", "lo", "--format", "none"], "--format none exports nothing without --ipfix"),
            (["run", "-i", "lo", "--ipfix", "http://127.0.0.1:4739"], "invalid --ipfix destination 'http://127.0.0.1:4739'"),
            (["run", "-i", "lo", "--ipfix", "udp://::1:4739"], "udp://[::1]:4739"),
            (["run", "-i", "lo", "--format", "none", "--ipfix", "file:///tmp/x.ipfix", "--output", "/tmp"], "--output DIR needs a text format"),
            (["run", "-i", "lo", "--ipfix", "udp://127.0.0.1", "--ipfix-template-refresh", "0"], "--ipfix-template-refresh"),
        ]
        for (args, expected) in cases {
            let r = try ProcessRunner.run([flowgen] + args)
            #expect(r.status != 0, "\(args)")
            #expect((r.stderr + r.stdout).contains(expected), "\(args): \(r.stderr)")
        }
        let listing = try ProcessRunner.run([flowgen, "features", "--ipfix", "--features", "tcp,icmp"]).check().stdout
        for line in ["bytes       reverse    29305  1    8    reverseOctetDeltaCount    OUT_BYTES",
                     "tcp_flags   forward    0      6    2    tcpControlBits            CLIENT_TCP_FLAGS",
                     "first_seen  combined   0      152  8    flowStartMilliseconds     FLOW_START_MICROSECONDS"] {
            #expect(listing.contains(line), "\(listing)")
        }
    }

    /// Parses `nfdump -o raw`: blocks starting with "Flow Record:", lines "  key = value".
    func rawRecords(_ text: String) -> [[String: String]] {
        text.components(separatedBy: "Flow Record:").dropFirst().map { block in
            var fields: [String: String] = [:]
            for line in block.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                fields[line[..<eq].trimmingCharacters(in: .whitespaces)] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            }
            return fields
        }
    }

    /// Waits until flowgen's filter is on the interface (compiling may take a moment).
    func waitForAttach(_ ns: NetworkNamespace, _ dev: String, log: String) throws {
        // both hooks: the egress filter goes on after the ingress one
        let attached = waitUntil(20) {
            ["ingress", "egress"].allSatisfy { (try? ns.exec(["tc", "filter", "show", "dev", dev, $0]).stdout.contains("bpf")) == true }
        }
        if !attached {
            Issue.record("flowgen did not attach to \(dev): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            throw TestbedError.systemCall("waiting for the filter on \(dev)", errno: ETIMEDOUT)
        }
    }
}
