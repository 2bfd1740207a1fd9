import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// nfstream 6.6 itself (installed from PyPI into .build/nfstream-venv by scripts/nfstream-venv.sh),
/// run over a capture with accounting_mode=1, statistical_analysis=True, n_dissections=0.
enum NfstreamReference {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../..").standardized.path

    /// The venv's python, installing nfstream on first use (a failure fails the test: it needs PyPI once).
    static func python() throws -> String {
        let result = try ProcessRunner.run(["bash", repository + "/scripts/nfstream-venv.sh"], timeout: .seconds(600))
        try #require(result.status == 0, "scripts/nfstream-venv.sh could not set up nfstream 6.6.0: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A flow's identity in both tools: addresses as inet_ntop prints them, ports, protocol, and
    /// the first packet's time in ms (nfstream's own stamp, the truncated capture time).
    struct Key: Hashable, CustomStringConvertible {
        var src: String, dst: String, sport: Int, dport: Int, proto: Int, firstMs: Int
        var description: String { "\(src):\(sport) > \(dst):\(dport) proto \(proto) at \(firstMs) ms" }
    }

    /// nfstream's TCP and UDP flows of `capture`, by key (ICMP is keyed differently; see the README).
    static func flows(_ capture: String, idle: Int, active: Int, splt: Int = 10) throws -> [Key: [String: Any]] {
        let result = try ProcessRunner.run([try python(), repository + "/scripts/nfstream-flows.py", capture,
                                            "--idle", String(idle), "--active", String(active), "--splt", String(splt)], timeout: .seconds(300))
        try #require(result.status == 0, "nfstream over \(capture): \(result.stderr)")
        var out: [Key: [String: Any]] = [:]
        for line in result.stdout.split(separator: "\n") {
            let flow = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let proto = flow["protocol"] as? Int ?? -1
            guard proto == 6 || proto == 17 else { continue }
            let key = Key(src: canonicalAddress(flow["src_ip"] as? String ?? ""), dst: canonicalAddress(flow["dst_ip"] as? String ?? ""),
                          sport: flow["src_port"] as? Int ?? -1, dport: flow["dst_port"] as? Int ?? -1, proto: proto,
                          firstMs: flow["bidirectional_first_seen_ms"] as? Int ?? -1)
            #expect(out[key] == nil, "nfstream has two flows \(key)")
            out[key] = flow
        }
        return out
    }

    /// `flowgen replay --features nfstream` of `capture` on `engine` (splt's sequence length `splt`),
    /// TCP and UDP flows by key.
    static func flowgen(_ capture: String, engine: String, idle: Int, active: Int, splt: Int = 10) throws -> [Key: [String: Any]] {
        let features = splt == 10 ? "nfstream" : "nfstream,splt:n=\(splt)"
        let result = try ProcessRunner.run([try flowgenBinary(), "replay", "-q", "--engine", engine, "--features", features,
                                            "--idle-timeout", String(idle), "--active-timeout", String(active), capture],
                                           timeout: .seconds(300))
        try #require(result.status == 0, "flowgen replay --engine \(engine) \(capture): \(result.stderr)")
        return try parseFlowgen(result.stdout)
    }

    /// flowgen's JSON lines, TCP and UDP flows by key.
    static func parseFlowgen(_ text: String) throws -> [Key: [String: Any]] {
        var out: [Key: [String: Any]] = [:]
        for line in text.split(separator: "\n") {
            let flow = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let proto = flow["PROTOCOL"] as? Int ?? -1
            guard proto == 6 || proto == 17 else { continue }
            let v6 = flow["IPV6_SRC_ADDR"] != nil
            let key = Key(src: canonicalAddress(flow[v6 ? "IPV6_SRC_ADDR" : "IPV4_SRC_ADDR"] as? String ?? ""),
                          dst: canonicalAddress(flow[v6 ? "IPV6_DST_ADDR" : "IPV4_DST_ADDR"] as? String ?? ""),
                          sport: flow["L4_SRC_PORT"] as? Int ?? -1, dport: flow["L4_DST_PORT"] as? Int ?? -1, proto: proto,
                          firstMs: (flow["FLOW_START_MICROSECONDS"] as? Int ?? -1000) / 1000)
            #expect(out[key] == nil, "flowgen has two flows \(key)")
            out[key] = flow
        }
        return out
    }

    /// The nfstream columns flowgen exports: packet sizes, inter-arrival times, TCP flag counts and
    /// the first packets' arrays.
    static func compared(_ column: String) -> Bool {
        column.hasPrefix("splt_") || column.hasSuffix("_ps") || column.hasSuffix("_piat_ms") || (column.hasSuffix("_packets") && !["bidirectional_packets", "src2dst_packets", "dst2src_packets"].contains(column))
    }

    /// A TCP flag count (`src2dst_syn_packets`, ...) of a flow that is not TCP: absent in flowgen's output.
    static func tcpOnly(_ column: String, proto: Int) -> Bool {
        proto != 6 && ["syn", "ack", "fin", "rst", "psh", "urg", "ece", "cwr"].contains { column.hasSuffix("_\($0)_packets") }
    }

    /// Whether JSON wrote the number with a fraction or exponent (JSONSerialization keeps it a double).
    static func isFloat(_ n: NSNumber) -> Bool {
        let type = String(cString: n.objCType)
        return type == "d" || type == "f"
    }

    /// Every difference between nfstream's flows and flowgen's, one line each (empty: equal).
    /// Integers (sizes, counts, min/max gaps in ms) must be equal; nfstream's means and standard deviations (floats, from Welford's
    /// running update) within 1e-3 relative of flowgen's (from exact integer sums).
    static func differences(_ reference: [Key: [String: Any]], _ ours: [Key: [String: Any]]) -> [String] {
        var out: [String] = []
        for key in Set(reference.keys).union(ours.keys).sorted(by: { $0.description < $1.description }) {
            guard let r = reference[key], let o = ours[key] else {
                out.append("\(key): only in \(reference[key] == nil ? "flowgen" : "nfstream")")
                continue
            }
            for (theirs, mine) in [("src2dst_packets", "IN_PKTS"), ("dst2src_packets", "OUT_PKTS")] where (r[theirs] as? Int) != (o[mine] as? Int) {
                out.append("\(key): \(theirs) nfstream \(r[theirs] ?? "none"), flowgen \(mine) \(o[mine] ?? "none")")
            }
            var columns = 0
            for (column, value) in r where compared(column) {
                columns += 1
                if tcpOnly(column, proto: key.proto) {
                    // the TCP flag counts do not apply to other flows: flowgen leaves them out
                    // (docs/modules.md, "no sample"), where nfstream writes 0
                    if (value as? Int) != 0 || o[column] != nil { out.append("\(key): \(column) nfstream \(value), flowgen \(o[column] ?? "none") (not TCP)") }
                    continue
                }
                if let list = value as? [Int] {
                    if (o[column] as? [Int]) != list { out.append("\(key): \(column) nfstream \(list), flowgen \(o[column] ?? "none")") }
                    continue
                }
                guard let number = value as? NSNumber, let mine = o[column] as? NSNumber else {
                    out.append("\(key): \(column) nfstream \(value), flowgen \(o[column] ?? "none")")
                    continue
                }
                let a = number.doubleValue, b = mine.doubleValue
                // a float stays a float (`68.0`, not `68`), an integer an integer
                let equal = isFloat(number) != isFloat(mine) ? false
                    : isFloat(number) ? abs(a - b) <= 1e-3 * Swift.max(abs(a), abs(b)) : number.int64Value == mine.int64Value
                if !equal { out.append("\(key): \(column) nfstream \(number), flowgen \(mine)") }
            }
            if columns != 51 { out.append("\(key): nfstream printed \(columns) of the 51 columns compared") }
        }
        return out
    }

    /// nfstream's and both replay engines' flows of `capture`: the engines' output identical, and
    /// equal to nfstream. Returns the number of flows compared.
    @discardableResult
    static func expectEqual(_ capture: String, idle: Int = 120, active: Int = 1800, minimumFlows: Int, splt: Int = 10,
                            sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let name = URL(fileURLWithPath: capture).lastPathComponent
        let reference = try flows(capture, idle: idle, active: active, splt: splt)
        let native = try flowgen(capture, engine: "native", idle: idle, active: active, splt: splt)
        let kernel = try flowgen(capture, engine: "kernel", idle: idle, active: active, splt: splt)
        #expect(reference.count >= minimumFlows, "nfstream found \(reference.count) TCP/UDP flows in \(name)", sourceLocation: sourceLocation)
        let diff = differences(reference, native)
        #expect(diff.isEmpty, "\(name), native engine:\n\(diff.prefix(20).joined(separator: "\n"))", sourceLocation: sourceLocation)
        // the two engines: every exported value, not only the nfstream columns (FLOW_ID is export order)
        func plain(_ flows: [Key: [String: Any]]) -> [Key: NSDictionary] {
            flows.mapValues { NSDictionary(dictionary: $0.filter { $0.key != "FLOW_ID" }) }
        }
        #expect(plain(native) == plain(kernel), "\(name): the kernel engine's flows differ from the native engine's", sourceLocation: sourceLocation)
        return reference.count
    }
}

/// `--features nfstream` equals nfstream 6.6 flow by flow: packet-size and inter-arrival statistics
/// (ms stamps: the replay's capture time truncated as nfstream truncates it, so equal, not within
/// 1 ms), TCP flag counts per direction and both, and the first 10 packets' arrays (splt_*), on captures of the corpus and on traffic of
/// real clients made here, with both replay engines.
@Suite(.serialized) struct NfstreamEqualityTests {
    static let corpus = ReplayCorpusTests.corpus

    @Test(arguments: [
        ("ssh.pcap", 1),                       // one TCP session SYN to FIN
        ("dns_tcp.pcap", 1),                   // DNS over TCP, PSH and FIN
        ("ntp.pcap", 4),                       // UDP over 35 minutes: idle timeouts split flows
        ("of13_ericsson.pcapng", 27),          // pcapng, OpenFlow TCP connections over loopback
        ("dhcpv4v6-rfc5970-rfc8572.pcap", 7),  // IPv4 and IPv6 UDP
        ("mptcp-v1.pcap", 1),                  // Linux cooked, TCP with 7 kB segments
        ("tcp-handshake-nano.pcap", 1),        // nanosecond pcap
        ("resp_1_benchmark.pcap", 15),         // 15 loopback TCP connections
        ("ipv4_tcp_http_xml.pcap", 1),         // one-way: the responder's columns are nfstream's zeros
        ("gso-ipv6.pcap", 1),                  // IPv6 TCP
        ("dnssec.pcap", 3),                    // IPv6 UDP
        ("LINKTYPE_IPV6.pcap", 1),             // raw IPv6 link
    ])
    func corpusCapturesEqualNfstream(name: String, flows: Int) throws {
        try requireRoot()
        try NfstreamReference.expectEqual(Self.corpus + "/" + name, minimumFlows: flows)
    }

    /// splt's parameter n = 20 (`--features nfstream,splt:n=20`) against nfstream's splt_analysis=20
    /// on a capture whose flows pass 20 packets: 20-element arrays, equal to nfstream's.
    @Test func spltOfTwentyEqualsNfstreamSpltAnalysisTwenty() throws {
        try requireRoot()
        let capture = Self.corpus + "/of13_ericsson.pcapng"
        try NfstreamReference.expectEqual(capture, minimumFlows: 27, splt: 20)
        let ours = try NfstreamReference.flowgen(capture, engine: "native", idle: 120, active: 1800, splt: 20)
        let sizes = ours.values.compactMap { $0["splt_ps"] as? [Int] }
        #expect(sizes.count == ours.count && sizes.allSatisfy { $0.count == 20 }, "\(sizes.map(\.count))")
        // some flows fill more than the default 10 places, so the parameter is what is compared
        #expect(sizes.contains { $0.filter { $0 >= 0 }.count > 10 }, "no flow of the capture has more than 10 packets")
    }

    /// curl fetching files of several sizes from python's http.server over IPv4 and IPv6, with 1 in
    /// 20 data segments dropped at the client (retransmissions), and UDP exchanges of random sizes
    /// and gaps (replies to some requests only), captured whole by tcpdump on the client's interface
    /// (nfstream skips an IPv6 packet cut by the snapshot length; flowgen counts it from its header).
    @Test func realClientsEqualNfstream() throws {
        try requireRoot()
        let work = NSTemporaryDirectory() + "hnfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work + "/www", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var rng = SplitMix64(seed: 16)
        for (i, size) in [0, 1, 700, 1460, 3000, 20_000, 150_000].enumerated() {
            try Data((0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).write(to: URL(fileURLWithPath: work + "/www/f\(i)"))
        }
        let hosts = try NamespacePair(prefix: "hnfs")
        defer { hosts.close() }
        let (a, b, link) = (hosts.a, hosts.b, hosts.veth)
        // loss: the client's ingress drops 1 in 20 TCP data segments of port 9000, after tcpdump's
        // tap (which sees them, then their retransmissions); the server sends one segment per skb,
        // so that the responses are some 200 segments and a drop is all but certain
        try lossyLinkProgram.write(toFile: work + "/drop.bpf.c", atomically: true, encoding: .utf8)
        let clang = try ClangCompiler().clangPath()
        let include = ClangCompiler.multiarchIncludeDirectory().map { ["-I" + $0] } ?? []
        try ProcessRunner.run([clang, "-O2", "-g", "-target", "bpf"] + include + ["-c", work + "/drop.bpf.c", "-o", work + "/drop.o"]).check()
        try b.exec(["ip", "link", "set", link.nameB, "gso_max_segs", "1"]).check()
        try a.exec(["tc", "qdisc", "add", "dev", link.nameA, "clsact"]).check()
        try a.exec(["tc", "filter", "add", "dev", link.nameA, "ingress", "bpf", "direct-action", "obj", work + "/drop.o", "sec", "tc"]).check()

        let capture = try a.spawn(["tcpdump", "-i", link.nameA, "-w", work + "/cap.pcap", "-U", "--immediate-mode", "-n", "-s", "0",
                                   "-B", "16384", "ip or ip6"])
        defer { capture.terminate() }
        let server = try b.spawn(["python3", "-m", "http.server", "--bind", "::", "--directory", work + "/www", "9000"])
        defer { server.terminate() }
        let udp = try b.spawn(["python3", "-c", Self.udpScript, "server", "::", "7"])
        defer { udp.terminate() }
        try b.waitUntilListening(host: "198.18.0.2", port: 9000)
        try #require(tcpdumpListens(capture), "tcpdump did not open its capture: \(capture.output())")

        for (host, url) in [("198.18.0.2", "http://198.18.0.2:9000"), ("fd00::2", "http://[fd00::2]:9000")] {
            for i in 0..<7 {
                let got = try a.exec(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "\(url)/f\(i)"], timeout: .seconds(30))
                #expect(got.stdout == "200", "curl \(host) f\(i): \(got.stdout) \(got.stderr)")
            }
            let client = try a.exec(["python3", "-c", Self.udpScript, "client", host, "11"], timeout: .seconds(30))
            #expect(client.status == 0, "UDP client to \(host): \(client.stderr)")
        }
        // the last FIN/ACKs have passed, and tcpdump has written them
        #expect(waitUntil(10) { tcpConnectionsClosed([a, b], port: 9000) }, "HTTP connections still open after 10 s")
        #expect(fileSettles(work + "/cap.pcap"), "tcpdump kept writing for 10 s")
        kill(capture.pid, SIGINT)
        _ = capture.wait(timeout: .seconds(10))
        #expect(capture.output().contains("\n0 packets dropped by kernel"), "tcpdump lost packets: \(capture.output())")
        let retransmitted = try ProcessRunner.run(["tshark", "-n", "-r", work + "/cap.pcap", "-Y", "tcp.analysis.retransmission"],
                                                  timeout: .seconds(60)).check().stdout.split(separator: "\n").count
        #expect(retransmitted > 0, "the lossy link dropped nothing: no retransmission to compare")
        // 14 HTTP connections and 2 × 3 UDP sockets
        try NfstreamReference.expectEqual(work + "/cap.pcap", minimumFlows: 20)
    }

    /// Live: `flowgen run --features nfstream` on a veth pair while curl and the UDP exchanges run,
    /// against nfstream over tcpdump's capture of the same interface. One packet per skb (no GSO:
    /// flowgen counts a GSO skb as its wire segments, a capture of a veth holds it as one packet).
    /// Sizes and flag counts equal; gaps within nfstream's 1 ms stamping, since the kernel stamps
    /// with the monotonic clock, whose ms boundaries are not the capture's wall-clock ones.
    @Test func liveRunEqualsNfstreamOnACaptureOfTheSameInterface() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let work = NSTemporaryDirectory() + "hnfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work + "/www", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var rng = SplitMix64(seed: 61)
        for (i, size) in [10, 5000, 80_000].enumerated() {
            try Data((0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).write(to: URL(fileURLWithPath: work + "/www/f\(i)"))
        }
        let hosts = try NamespacePair(prefix: "hnfs")
        defer { hosts.close() }
        let (a, b, link) = (hosts.a, hosts.b, hosts.veth)
        for (ns, dev) in [(a, link.nameA), (b, link.nameB)] {
            try ns.exec(["ip", "link", "set", dev, "gso_max_segs", "1"]).check()
        }
        let dev = link.nameA
        let capture = try a.spawn(["tcpdump", "-i", dev, "-w", work + "/cap.pcap", "-U", "--immediate-mode", "-n", "-s", "0",
                                   "-B", "16384", "ip or ip6"])
        defer { capture.terminate() }
        let monitor = try a.spawn([flowgen, "run", "-i", dev, "--features", "nfstream", "--interval", "0",
                                   "--output", work + "/flows", "--log", work + "/flowgen.log", "-q"])
        defer { monitor.terminate() }
        try #require(try waitUntil(20) { try a.exec(["tc", "filter", "show", "dev", dev, "egress"]).stdout.contains("bpf") },
                     "flowgen did not attach to \(dev): \(monitor.output())")
        let server = try b.spawn(["python3", "-m", "http.server", "--bind", "::", "--directory", work + "/www", "9000"])
        defer { server.terminate() }
        let udp = try b.spawn(["python3", "-c", Self.udpScript, "server", "::", "5"])
        defer { udp.terminate() }
        try b.waitUntilListening(host: "198.18.0.2", port: 9000)
        try #require(tcpdumpListens(capture), "tcpdump did not open its capture: \(capture.output())")

        for (host, url) in [("198.18.0.2", "http://198.18.0.2:9000"), ("fd00::2", "http://[fd00::2]:9000")] {
            for i in 0..<3 {
                let got = try a.exec(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "\(url)/f\(i)"], timeout: .seconds(30))
                #expect(got.stdout == "200", "curl \(host) f\(i): \(got.stdout) \(got.stderr)")
            }
            let client = try a.exec(["python3", "-c", Self.udpScript, "client", host, "9"], timeout: .seconds(30))
            #expect(client.status == 0, "UDP client to \(host): \(client.stderr)")
        }
        // the last FIN/ACKs have passed, and tcpdump has written them
        #expect(waitUntil(10) { tcpConnectionsClosed([a, b], port: 9000) }, "HTTP connections still open after 10 s")
        #expect(fileSettles(work + "/cap.pcap"), "tcpdump kept writing for 10 s")
        kill(monitor.pid, SIGINT)
        let status = monitor.wait(timeout: .seconds(20))
        let log = (try? String(contentsOfFile: work + "/flowgen.log", encoding: .utf8)) ?? ""
        #expect(status == 0, "flowgen: \(monitor.output()) \(log)")
        kill(capture.pid, SIGINT)
        _ = capture.wait(timeout: .seconds(10))
        #expect(capture.output().contains("\n0 packets dropped by kernel"), "tcpdump lost packets: \(capture.output())")

        // by 5-tuple: the two tools' start times are different clocks
        func byTuple(_ flows: [NfstreamReference.Key: [String: Any]]) -> [String: [String: Any]] {
            var out: [String: [String: Any]] = [:]
            for (k, v) in flows { out["\(k.src):\(k.sport) > \(k.dst):\(k.dport) proto \(k.proto)"] = v }
            return out
        }
        let reference = byTuple(try NfstreamReference.flows(work + "/cap.pcap", idle: 60, active: 1800))
        let files = try FileManager.default.contentsOfDirectory(atPath: work + "/flows")
        var ours: [NfstreamReference.Key: [String: Any]] = [:]
        for file in files {
            let text = try String(contentsOfFile: work + "/flows/" + file, encoding: .utf8)
            ours.merge(try NfstreamReference.parseFlowgen(text)) { a, _ in a }
        }
        let live = byTuple(ours)
        #expect(reference.count >= 12, "nfstream found \(reference.count) TCP/UDP flows") // 6 HTTP connections, 2 × 3 UDP sockets
        // every flow has early packets to compare (an unread column would make the check empty)
        #expect(reference.values.allSatisfy { !Self.earlyPackets($0).joined().isEmpty }, "nfstream flows without splt: \(reference)")
        var diff: [String] = []
        for key in Set(reference.keys).union(live.keys).sorted() {
            guard let r = reference[key], let o = live[key] else {
                diff.append("\(key): only in \(reference[key] == nil ? "flowgen" : "nfstream")")
                continue
            }
            // the early packets per direction: each direction's sizes in order, equal, and each
            // packet's time since the first within the gap tolerance below; the merged order of two
            // packets of opposite directions less than that apart is the stamping point's to decide
            let (theirs, mine) = (Self.earlyPackets(r), Self.earlyPackets(o))
            if !Self.earlyPacketsAgree(theirs, mine) {
                diff.append("\(key): early packets (size, ms) by direction nfstream \(theirs), flowgen \(mine)")
            }
            for (column, value) in r where NfstreamReference.compared(column) && !column.hasPrefix("splt_") {
                if NfstreamReference.tcpOnly(column, proto: key.hasSuffix(" proto 6") ? 6 : 0) {
                    if (value as? Int) != 0 || o[column] != nil { diff.append("\(key): \(column) nfstream \(value), flowgen \(o[column] ?? "none") (not TCP)") }
                    continue
                }
                guard let n = value as? NSNumber, let m = o[column] as? NSNumber else {
                    diff.append("\(key): \(column) nfstream \(value), flowgen \(o[column] ?? "none")")
                    continue
                }
                let x = n.doubleValue, y = m.doubleValue
                let tolerance = column.hasSuffix("_piat_ms") ? Double(Self.liveGapSlack) : NfstreamReference.isFloat(n) ? 1e-3 * Swift.max(abs(x), abs(y)) : 0
                if abs(x - y) > tolerance { diff.append("\(key): \(column) nfstream \(n), flowgen \(m)") }
            }
        }
        #expect(diff.isEmpty, "live flowgen against nfstream on the capture:\n\(diff.prefix(30).joined(separator: "\n"))")
    }

    /// How far a live gap may differ, in ms: its two stamps each truncate to the ms on their own
    /// clock (1), and the program stamps a packet at the tc hook while tcpdump's stamp is taken at
    /// the tap, a few µs away, but up to a ms on this loaded 2-CPU machine (seen: gaps 2 ms apart,
    /// and opposite-direction packets in swapped order, in about 1 run in 4 with a 1 ms slack).
    static let liveGapSlack = 2

    /// The early packets (`splt_*`) of one flow's output split by direction: each packet's size
    /// and its time in ms since the flow's first packet (the running sum of the gaps).
    /// The early packets of a live flow as the two tools saw them, per direction: sizes equal and
    /// times within the slack over the packets both kept; where the early list ends (its tenth
    /// place) two packets of opposite directions closer than the slack may fall either side of it,
    /// so a direction may keep one packet more or less, if that packet is within the slack of the
    /// list's last time. Both lists hold the same number of packets.
    static func earlyPacketsAgree(_ a: [[(size: Int, ms: Int)]], _ b: [[(size: Int, ms: Int)]]) -> Bool {
        guard a.count == b.count, a.joined().count == b.joined().count else { return false }
        let end = ([a, b].flatMap { $0.joined().map(\.ms) }.max() ?? 0)
        for (x, y) in zip(a, b) {
            let common = min(x.count, y.count)
            guard zip(x.prefix(common), y.prefix(common)).allSatisfy({ $0.size == $1.size && abs($0.ms - $1.ms) <= liveGapSlack }) else { return false }
            let extra = x.count > y.count ? x.dropFirst(common) : y.dropFirst(common)
            guard extra.count <= 1, extra.allSatisfy({ end - $0.ms <= liveGapSlack }) else { return false }
        }
        return true
    }

    static func earlyPackets(_ flow: [String: Any]) -> [[(size: Int, ms: Int)]] {
        let directions = flow["splt_direction"] as? [Int] ?? [], sizes = flow["splt_ps"] as? [Int] ?? []
        let gaps = flow["splt_piat_ms"] as? [Int] ?? []
        var out: [[(size: Int, ms: Int)]] = [[], []]
        var ms = 0
        for (i, direction) in directions.enumerated() where (0...1).contains(direction) && i < sizes.count && i < gaps.count {
            ms += gaps[i]
            out[direction].append((sizes[i], ms))
        }
        return out
    }

    /// UDP exchanges (argv: role, address, seed). The client opens 3 sockets, each sending 30
    /// datagrams of 0-1400 random bytes 0-20 ms apart; the server answers about 2 in 3 with 0-1400 bytes.
    static let udpScript = """
    import random, socket, sys, time
    role, addr, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    if role == "server":
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind((addr, 9001))
        while True:
            data, peer = s.recvfrom(2048)
            if rng.random() < 0.67:
                s.sendto(bytes(rng.randrange(1401)), peer)
    else:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        for k in range(3):
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.settimeout(0.02)
            for i in range(30):
                s.sendto(bytes(rng.randrange(1401)), (addr, 9001))
                try:
                    s.recvfrom(2048)
                except socket.timeout:
                    pass
                time.sleep(rng.random() * 0.02)
            s.close()
    """
}
