import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// The built `flowgen` binary next to the test executable (`swift build --build-tests` builds both).
func flowgenBinary() throws -> String {
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("flowgen").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    throw TestbedError.systemCall("finding the flowgen binary near \(exe) (run `swift build --build-tests` first)", errno: ENOENT)
}

/// Per direction of one conversation in a pcap: packets and IP bytes, counted independently of flowgen.
struct PcapTally {
    var packets: [String: UInt64] = [:]
    var bytes: [String: UInt64] = [:]

    /// Reads a classic pcap (Ethernet) and tallies IPv4 packets by "src:sport>dst:dport/proto".
    init(path: String) throws {
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        func u32(_ o: Int) -> UInt32 { UInt32(data[o]) | UInt32(data[o + 1]) << 8 | UInt32(data[o + 2]) << 16 | UInt32(data[o + 3]) << 24 }
        func be16(_ o: Int) -> UInt64 { UInt64(data[o]) << 8 | UInt64(data[o + 1]) }
        var off = 24
        while off + 16 <= data.count {
            let caplen = Int(u32(off + 8))
            let p = off + 16
            off = p + caplen
            guard caplen >= 34, off <= data.count, data[p + 12] == 0x08, data[p + 13] == 0x00 else { continue }
            let ip = p + 14
            let ihl = Int(data[ip] & 0x0f) * 4
            let proto = data[ip + 9]
            let src = data[(ip + 12)..<(ip + 16)].map(String.init).joined(separator: ".")
            let dst = data[(ip + 16)..<(ip + 20)].map(String.init).joined(separator: ".")
            var sport: UInt64 = 0, dport: UInt64 = 0
            if (proto == 6 || proto == 17) && caplen >= 14 + ihl + 4 { sport = be16(ip + ihl); dport = be16(ip + ihl + 2) }
            let k = "\(src):\(sport)>\(dst):\(dport)/\(proto)"
            packets[k, default: 0] += 1
            bytes[k, default: 0] += be16(ip + 2)
        }
    }
}

/// Real traffic between two network namespaces, monitored by the real binary; the exported biflows
/// are checked against what was sent and against an independent tcpdump capture.
@Suite(.serialized) struct EndToEndTests {
    @Test func liveRunExportsBiflowsOfRealTrafficAndDetachesCleanly() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let hosts = try NamespacePair(prefix: "fge2e")
        defer { hosts.close() }
        let (a, b, veth) = (hosts.a, hosts.b, hosts.veth)
        let work = hosts.work

        let server = try b.spawn(["python3", "-m", "http.server", "--bind", "198.18.0.2", "8080"])
        defer { server.terminate() }
        try b.waitUntilListening(host: "198.18.0.2", port: 8080)
        let capture = try a.spawn(["tcpdump", "-i", veth.nameA, "-w", work + "/cap.pcap", "-U", "-n", "ip"])
        let monitor = try a.spawn([flowgen, "run", "-i", veth.nameA, "--features", "tcp,icmp", "--interval", "0.5",
                                   "--output", work + "/flows", "--log", work + "/flowgen.log", "-v"])
        defer { monitor.terminate() }
        try waitForFilter(a, veth.nameA, attached: true, log: work + "/flowgen.log")
        try #require(tcpdumpListens(capture), "tcpdump did not open its capture: \(capture.output())")

        try a.exec(["ping", "-c", "3", "-i", "0.2", "198.18.0.2"]).check()
        try a.exec(["ping", "-6", "-c", "2", "-i", "0.2", "fd00::2"]).check()
        let curl = try a.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://198.18.0.2:8080/"]).check()
        #expect(curl.stdout == "200")
        try a.exec(["python3", "-c", """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("198.18.0.1", 5555))
        for _ in range(5): s.sendto(b"x" * 100, ("198.18.0.2", 9999))
        """]).check()
        // the TCP flow ends by FIN and is exported while running, before the SIGINT that forces the rest out
        let httpExported = waitUntil(15) { flowFilesHaveLine(in: work + "/flows", containing: ["\"L4_DST_PORT\":8080", "\"end of flow\""]) }
        #expect(httpExported, "the HTTP flow was not exported by FIN within 15 s")
        kill(monitor.pid, SIGINT)
        let status = monitor.wait(timeout: .seconds(20))
        let log = (try? String(contentsOfFile: work + "/flowgen.log", encoding: .utf8)) ?? ""
        #expect(status == 0, "flowgen exited with \(String(describing: status)): \(monitor.output()) \(log)")
        capture.terminate()

        // nothing left behind: no filter, and the clsact qdisc flowgen created is gone
        let filters = try a.exec(["tc", "filter", "show", "dev", veth.nameA, "ingress"]).stdout
            + a.exec(["tc", "filter", "show", "dev", veth.nameA, "egress"]).stdout
        #expect(filters.isEmpty)
        #expect(!(try a.exec(["tc", "qdisc", "show", "dev", veth.nameA]).stdout.contains("clsact")))

        let files = try FileManager.default.contentsOfDirectory(atPath: work + "/flows")
        #expect(files.count == 1 && files[0].hasPrefix("flows-") && files[0].hasSuffix(".jsonl"))
        var attrs = stat()
        stat(work + "/flows/" + files[0], &attrs)
        #expect(attrs.st_mode & 0o007 == 0, "flow files must not be world-readable")
        let text = try String(contentsOfFile: work + "/flows/" + files[0], encoding: .utf8)
        let flows = try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
        func find(_ match: ([String: Any]) -> Bool) -> [String: Any]? { flows.first(where: match) }
        func int(_ f: [String: Any]?, _ k: String) -> Int? { f?[k] as? Int }

        let ping = find { $0["PROTOCOL"] as? Int == 1 && $0["ICMP_TYPE"] as? Int == 8 << 8 }
        #expect(ping?["IPV4_SRC_ADDR"] as? String == "198.18.0.1")
        #expect(int(ping, "IN_PKTS") == 3 && int(ping, "OUT_PKTS") == 3)
        #expect(int(ping, "IN_BYTES") == 3 * 84 && int(ping, "OUT_BYTES") == 3 * 84)
        #expect(ping?["FLOW_END_REASON"] as? String == "forced")

        let ping6 = find { $0["PROTOCOL"] as? Int == 58 && $0["ICMP_TYPE"] as? Int == 128 << 8 }
        #expect(ping6?["IPV6_SRC_ADDR"] as? String == "fd00::1")
        #expect(int(ping6, "IN_PKTS") == 2 && int(ping6, "OUT_PKTS") == 2)
        #expect(int(ping6, "IN_BYTES") == 2 * 104 && int(ping6, "IP_PROTOCOL_VERSION") == 6)

        let udp = find { $0["PROTOCOL"] as? Int == 17 && $0["L4_SRC_PORT"] as? Int == 5555 }
        #expect(int(udp, "L4_DST_PORT") == 9999)
        #expect(int(udp, "IN_PKTS") == 5 && int(udp, "IN_BYTES") == 5 * 128 && int(udp, "OUT_PKTS") == 0)

        let http = try #require(find { $0["PROTOCOL"] as? Int == 6 && $0["L4_DST_PORT"] as? Int == 8080 })
        #expect(http["FLOW_END_REASON"] as? String == "end of flow")
        #expect((int(http, "CLIENT_TCP_FLAGS") ?? 0) & 0x03 == 0x03) // SYN and FIN from the client
        #expect((int(http, "SERVER_TCP_FLAGS") ?? 0) & 0x13 == 0x13)
        let sport = try #require(int(http, "L4_SRC_PORT"))
        let tally = try PcapTally(path: work + "/cap.pcap")
        let up = "198.18.0.1:\(sport)>198.18.0.2:8080/6", down = "198.18.0.2:8080>198.18.0.1:\(sport)/6"
        #expect(int(http, "IN_PKTS").map(UInt64.init) == tally.packets[up])
        #expect(int(http, "IN_BYTES").map(UInt64.init) == tally.bytes[up])
        #expect(int(http, "OUT_PKTS").map(UInt64.init) == tally.packets[down])
        #expect(int(http, "OUT_BYTES").map(UInt64.init) == tally.bytes[down])
        let start = try #require(int(http, "FLOW_START_MICROSECONDS")), end = try #require(int(http, "FLOW_END_MICROSECONDS"))
        let now = Int(Date().timeIntervalSince1970 * 1_000_000)
        #expect(start <= end && now - start < 60_000_000 && start < now, "timestamps must be wall-clock epoch µs")
        #expect(int(http, "FLOW_DURATION_MICROSECONDS") == (end - start))
        // every flow id once
        let ids = flows.compactMap { $0["FLOW_ID"] as? Int }
        #expect(Set(ids).count == flows.count)
        _ = server
    }

    @Test func csvAndDurationStopAndPreexistingQdiscSurvives() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let hosts = try NamespacePair(prefix: "fge2e")
        defer { hosts.close() }
        let (a, veth) = (hosts.a, hosts.veth)
        try a.exec(["tc", "qdisc", "add", "dev", veth.nameA, "clsact"]).check()
        let work = hosts.work
        let monitor = try a.spawn([flowgen, "run", "-i", veth.nameA, "--direction", "egress", "--format", "csv",
                                   "--interval", "0", "--duration", "4", "--output", work, "-q"])
        defer { monitor.terminate() }
        try waitForFilter(a, veth.nameA, attached: true, direction: "egress", log: nil)
        try a.exec(["ping", "-c", "2", "-i", "0.2", "198.18.0.2"]).check()
        let status = monitor.wait(timeout: .seconds(20))
        #expect(status == 0, "\(monitor.output())")
        #expect(try a.exec(["tc", "qdisc", "show", "dev", veth.nameA]).stdout.contains("clsact"), "a qdisc flowgen did not create must stay")
        #expect(try a.exec(["tc", "filter", "show", "dev", veth.nameA, "egress"]).stdout.isEmpty)
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: work).first)
        let rows = try String(contentsOfFile: work + "/" + file, encoding: .utf8).split(separator: "\n")
        let header = rows[0].split(separator: ",", omittingEmptySubsequences: false)
        #expect(header.contains("IN_PKTS") && header.first == "FLOW_ID")
        // egress only: the echo requests leave, the replies are not seen
        let inPkts = header.firstIndex(of: "IN_PKTS")!, proto = header.firstIndex(of: "PROTOCOL")!
        let icmp = rows.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }.filter { $0[proto] == "1" }
        #expect(icmp.count == 1 && icmp.first?[inPkts] == "2")
    }

    @Test func refusesBadInputWithOneLineErrors() throws {
        let flowgen = try flowgenBinary()
        let cases: [([String], String)] = [
            (["run", "-i", "nosuchif0"], "nosuchif0"),
            (["run"], "no interface given"),
            (["run", "-i", "lo", "--idle-timeout", "-5"], "--idle-timeout"),
            (["build", "--features", "tcp,bogus"], "unknown feature 'bogus'"),
            (["run", "-i", "lo", "--format", "xml"], "xml"),
        ]
        for (args, expected) in cases {
            let r = try ProcessRunner.run([flowgen] + args)
            #expect(r.status != 0, "\(args)")
            #expect((r.stderr + r.stdout).contains(expected), "\(args): \(r.stderr)")
        }
    }

    /// Waits until flowgen's filter shows up on the interface (compilation may take a moment).
    func waitForFilter(_ ns: NetworkNamespace, _ dev: String, attached: Bool, direction: String = "ingress", log: String?) throws {
        if try waitUntil(10, { try ns.exec(["tc", "filter", "show", "dev", dev, direction]).stdout.contains("bpf") == attached }) { return }
        let text = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
        Issue.record("flowgen did not attach to \(dev) within 10 s: \(text)")
        throw TestbedError.systemCall("waiting for the filter on \(dev)", errno: ETIMEDOUT)
    }
}
