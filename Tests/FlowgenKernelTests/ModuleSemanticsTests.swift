import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
import FlowgenTestSupport

/// The aggregation semantics of docs/modules.md on real programs: combined first/last by packet
/// time (replayed with both engines, and live), fields that do not apply left out, and exact
/// min/max under two CPUs.
@Suite(.serialized) struct ModuleSemanticsTests {
    /// A DSCP module (first/last/min/max of the packet's DSCP, with combined names) and a TCP-only
    /// module, written to a fresh feature path that the caller removes.
    static func writeModules() throws -> String {
        let root = NSTemporaryDirectory() + "fm-sem-\(UUID().uuidString)"
        for (name, yaml) in [("fm_dscp", """
            name: fm_dscp
            summary: DSCP of the first and last packets, and its range
            fields:
              - name: fm_dscp_first
                type: u8
                aggregation: first
                value: pkt->tos >> 2
                json: { forward: FM_DSCP_FIRST_IN, reverse: FM_DSCP_FIRST_OUT, combined: FM_DSCP_FIRST }
              - name: fm_dscp_last
                type: u8
                aggregation: last
                value: pkt->tos >> 2
                json: { forward: FM_DSCP_LAST_IN, reverse: FM_DSCP_LAST_OUT, combined: FM_DSCP_LAST }
              - name: fm_dscp_max
                type: u8
                aggregation: max
                value: pkt->tos >> 2
                json: { forward: FM_DSCP_MAX_IN, reverse: FM_DSCP_MAX_OUT, combined: FM_DSCP_MAX }
            """), ("fm_tcponly", """
            name: fm_tcponly
            summary: a TCP-only window maximum and segment count
            applies_to: [tcp]
            fields:
              - name: fm_win_max
                type: u16
                aggregation: max
                value: pkt->tcp_window
                json: { forward: FM_WIN_MAX_IN, reverse: FM_WIN_MAX_OUT }
              - name: fm_segments
                type: u32
                aggregation: sum
                value: 1
                json: { forward: FM_SEGMENTS_IN, reverse: FM_SEGMENTS_OUT }
            """)] {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
            try yaml.write(toFile: root + "/\(name)/feature.yaml", atomically: true, encoding: .utf8)
        }
        return root
    }

    static func corpus(_ name: String) throws -> String {
        URL(fileURLWithPath: try ResourceLocator.locate().features).deletingLastPathComponent().path + "/Tests/Captures/tcpdump-tests/" + name
    }

    /// One packet as tshark decodes it.
    struct TsharkPacket: Hashable {
        var src: String, sport: Int, dst: String, dport: Int, dscp: Int
    }

    @Test(arguments: ["native", "kernel"])
    func combinedFirstAndLastOfNTPFollowPacketTime(engine: String) throws {
        if engine == "kernel" { try requireRoot() }
        let root = try Self.writeModules()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let capture = try Self.corpus("ntp.pcap")
        // the expected values from tshark: per conversation in capture order, the initiator is the
        // sender of its first packet
        let t = try ProcessRunner.run(["tshark", "-r", capture, "-T", "fields", "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst",
                                       "-e", "udp.dstport", "-e", "ip.dsfield.dscp"])
        try #require(t.status == 0, "tshark: \(t.stderr)")
        let packets = t.stdout.split(separator: "\n").map { line -> TsharkPacket in
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return TsharkPacket(src: c[0], sport: Int(c[1])!, dst: c[2], dport: Int(c[3])!, dscp: Int(c[4])!)
        }
        try #require(packets.count == 8)
        var conversations: [(initiator: TsharkPacket, packets: [TsharkPacket])] = []
        for p in packets {
            if let i = conversations.firstIndex(where: { c in
                (c.initiator.src, c.initiator.sport, c.initiator.dst, c.initiator.dport) == (p.src, p.sport, p.dst, p.dport)
                    || (c.initiator.src, c.initiator.sport, c.initiator.dst, c.initiator.dport) == (p.dst, p.dport, p.src, p.sport) }) {
                conversations[i].packets.append(p)
            } else {
                conversations.append((p, [p]))
            }
        }
        // the 123 <-> 123 conversation: initiator DSCP 48 before the responder's 46, so the
        // combined first is 48 and the last 46 (min/max would say 46 and 48)
        try #require(conversations.contains { $0.initiator.sport == 123 && $0.packets.map(\.dscp) == [48, 46] })

        let r = try ProcessRunner.run([try flowgenBinary(), "replay", "-q", "--engine", engine, "--feature-path", root,
                                       "--allow-unsafe-feature-path", "--features", "tcp,fm_dscp,fm_tcponly",
                                       "--idle-timeout", "100000", "--active-timeout", "100000", capture])
        try #require(r.status == 0, "flowgen replay: \(r.stderr)")
        let flows = try r.stdout.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(flows.count == conversations.count)
        for c in conversations {
            let flow = try #require(flows.first { $0["IPV4_SRC_ADDR"] as? String == c.initiator.src && $0["L4_SRC_PORT"] as? Int == c.initiator.sport
                                        && $0["L4_DST_PORT"] as? Int == c.initiator.dport }, "\(c.initiator) missing: \(r.stdout)")
            let fwd = c.packets.filter { $0.src == c.initiator.src && $0.sport == c.initiator.sport }
            let rev = c.packets.filter { !($0.src == c.initiator.src && $0.sport == c.initiator.sport) }
            #expect(flow["FM_DSCP_FIRST"] as? Int == c.packets.first!.dscp, "\(flow)")
            #expect(flow["FM_DSCP_LAST"] as? Int == c.packets.last!.dscp, "\(flow)")
            #expect(flow["FM_DSCP_FIRST_IN"] as? Int == fwd.first?.dscp && flow["FM_DSCP_LAST_IN"] as? Int == fwd.last?.dscp, "\(flow)")
            #expect(flow["FM_DSCP_FIRST_OUT"] as? Int == rev.first?.dscp && flow["FM_DSCP_LAST_OUT"] as? Int == rev.last?.dscp, "\(flow)")
            #expect(flow["FM_DSCP_MAX"] as? Int == c.packets.map(\.dscp).max(), "\(flow)")
            // UDP: the TCP-only fields and the tcp module's flags do not apply
            for name in ["FM_WIN_MAX_IN", "FM_WIN_MAX_OUT", "FM_SEGMENTS_IN", "FM_SEGMENTS_OUT", "CLIENT_TCP_FLAGS", "SERVER_TCP_FLAGS", "TCP_FLAGS"] {
                #expect(flow[name] == nil, "\(name) on a UDP flow: \(flow)")
            }
        }
    }

    @Test func liveTheLastPacketIsTheClientsAckWithinOneTick() throws {
        try requireRoot()
        let root = try Self.writeModules()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let flowgen = try flowgenBinary()
        let ns = try NetworkNamespace(prefix: "fmsem")
        defer { try? ns.destroy() }
        for argv in [["ip", "link", "add", "fmsemva", "type", "veth", "peer", "name", "fmsemvb"],
                     ["ip", "link", "set", "fmsemva", "up"], ["ip", "link", "set", "fmsemvb", "up"]] {
            let r = try ns.exec(argv)
            try #require(r.status == 0, "\(argv.joined(separator: " ")): \(r.stderr)")
        }
        let out = NSTemporaryDirectory() + "fmsem-out-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let monitor = try ns.spawn([flowgen, "run", "-i", "fmsemva", "--direction", "ingress", "--duration", "4", "--interval", "0",
                                    "-q", "--format", "json", "--output", out, "--feature-path", root, "--allow-unsafe-feature-path",
                                    "--features", "tcp,fm_dscp,fm_tcponly"])
        defer { monitor.terminate() }
        var attached = false
        for _ in 0..<200 where !attached {
            attached = try ns.exec(["tc", "filter", "show", "dev", "fmsemva", "ingress"]).stdout.contains("bpf")
            if !attached { Thread.sleep(forTimeInterval: 0.05) }
        }
        try #require(attached, "flowgen did not attach: \(monitor.output())")
        // a TCP exchange sent back to back (µs apart, within one tick of the coarse clock): the client
        // marks DSCP 48 then 24, the server 46 then 26; its last segment is the server's FIN (DSCP 26),
        // answered by the client's ACK (DSCP 24), the flow's last packet. Then a UDP pair.
        let c: PacketBuilder.IPv4Address = "198.18.9.2", s: PacketBuilder.IPv4Address = "198.18.9.1"
        func tos(_ dscp: UInt8) -> UInt8 { dscp << 2 }
        let frames: [[UInt8]] = [
            Packet.ethernet().ipv4(src: c, dst: s, tos: tos(48)).tcp(sport: 40001, dport: 80, seq: 1, flags: [.syn], window: 1000).bytes(),
            Packet.ethernet().ipv4(src: s, dst: c, tos: tos(46)).tcp(sport: 80, dport: 40001, seq: 9, ack: 2, flags: [.syn, .ack], window: 3000).bytes(),
            Packet.ethernet().ipv4(src: c, dst: s, tos: tos(10)).tcp(sport: 40001, dport: 80, seq: 2, ack: 10, flags: [.ack, .fin], window: 2000).bytes(),
            Packet.ethernet().ipv4(src: s, dst: c, tos: tos(26)).tcp(sport: 80, dport: 40001, seq: 10, ack: 3, flags: [.ack, .fin], window: 2500).bytes(),
            Packet.ethernet().ipv4(src: c, dst: s, tos: tos(24)).tcp(sport: 40001, dport: 80, seq: 3, ack: 11, flags: [.ack], window: 1500).bytes(),
            Packet.ethernet().ipv4(src: c, dst: s, tos: tos(8)).udp(sport: 5000, dport: 53, payload: [1]).bytes(),
            Packet.ethernet().ipv4(src: s, dst: c, tos: tos(0)).udp(sport: 53, dport: 5000, payload: [2]).bytes(),
        ]
        try InitiatorStampTests.sendRaw(frames, interface: "fmsemvb", in: ns)
        #expect(monitor.wait(timeout: .seconds(30)) == 0, "\(monitor.output())")
        let text = try FileManager.default.contentsOfDirectory(atPath: out).map { try String(contentsOfFile: out + "/" + $0, encoding: .utf8) }.joined()
        let flows = try text.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            .filter { $0["IP_PROTOCOL_VERSION"] as? Int == 4 }
        let tcp = try #require(flows.first { $0["PROTOCOL"] as? Int == 6 }, "\(text)")
        #expect(tcp["FM_DSCP_FIRST"] as? Int == 48 && tcp["FM_DSCP_LAST"] as? Int == 24, "\(tcp)")
        #expect(tcp["FM_DSCP_FIRST_OUT"] as? Int == 46 && tcp["FM_DSCP_LAST_OUT"] as? Int == 26 && tcp["FM_DSCP_MAX"] as? Int == 48, "\(tcp)")
        #expect(tcp["FM_WIN_MAX_IN"] as? Int == 2000 && tcp["FM_WIN_MAX_OUT"] as? Int == 3000, "\(tcp)")
        #expect(tcp["FM_SEGMENTS_IN"] as? Int == 3 && tcp["FM_SEGMENTS_OUT"] as? Int == 2, "\(tcp)")
        #expect(tcp["CLIENT_TCP_FLAGS"] as? Int == 0x13 && tcp["SERVER_TCP_FLAGS"] as? Int == 0x13, "\(tcp)")
        let udp = try #require(flows.first { $0["PROTOCOL"] as? Int == 17 }, "\(text)")
        #expect(udp["FM_DSCP_FIRST"] as? Int == 8 && udp["FM_DSCP_LAST"] as? Int == 0, "\(udp)")
        for name in ["FM_WIN_MAX_IN", "FM_WIN_MAX_OUT", "FM_SEGMENTS_IN", "FM_SEGMENTS_OUT", "CLIENT_TCP_FLAGS", "SERVER_TCP_FLAGS", "TCP_FLAGS"] {
            #expect(udp[name] == nil, "\(name) on a UDP flow: \(udp)")
        }
    }

    /// The race modules: each packet takes a ticket from an atomic counter in the record, so the
    /// max of (ticket) and the min of (~ticket) change on every packet and the exact final values
    /// are known. Before its update, each packet checks that the record still holds at least what
    /// this CPU stored before (kept per CPU in a map of the module's helpers): a value overwritten by
    /// the other CPU's older one is counted as lost. `fm_racy` does the same with the
    /// compare-and-store min/max had before compare-and-exchange.
    static func raceModule(_ name: String, cas: Bool) -> (yaml: String, helpers: String, body: String) {
        let yaml = """
        name: \(name)
        fields:
          - name: \(name)_ticket
            type: u32
            aggregation: sum
            export: false
          - name: \(name)_hmax
            type: u32
            aggregation: max
            json: { forward: \(name.uppercased())_HMAX }
          - name: \(name)_hmin
            type: u32
            aggregation: min
            json: { forward: \(name.uppercased())_HMIN }
          - name: \(name)_wmax
            type: u16
            aggregation: max
            json: { forward: \(name.uppercased())_WMAX }
          - name: \(name)_wmin
            type: u16
            aggregation: min
            json: { forward: \(name.uppercased())_WMIN }
          - name: \(name)_lost
            type: u32
            aggregation: sum
            export: false
        update: update.bpf.c
        helpers: helpers.bpf.c
        """
        let helpers = """
        struct \(name)_mine { __u32 port, hmax, hmin, wmax, wmin; };
        struct {
        	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        	__uint(max_entries, 1);
        	__type(key, __u32);
        	__type(value, struct \(name)_mine);
        } \(name)_map SEC(".maps");

        """
        func set(_ field: String, _ value: String, max: Bool, wide: Bool) -> String {
            if cas { return "FG_SET(\(name)_\(field), \(value));" }
            let t = wide ? "__u32" : "__u16"
            return "{ \(t) v = \(value); if (v \(max ? ">" : "<") rec->\(name)_\(field)) rec->\(name)_\(field) = v; }"
        }
        let body = """
        __u32 zero = 0;
        struct \(name)_mine *m = bpf_map_lookup_elem(&\(name)_map, &zero);
        if (m) {
        	if (m->port != pkt->key.sport) {
        		m->port = pkt->key.sport;
        		m->hmax = 0; m->hmin = 0xffffffffu; m->wmax = 0; m->wmin = 0xffff;
        	}
        	if (*(volatile __u32 *)&rec->\(name)_hmax < m->hmax || *(volatile __u32 *)&rec->\(name)_hmin > m->hmin ||
        	    *(volatile __u16 *)&rec->\(name)_wmax < m->wmax || *(volatile __u16 *)&rec->\(name)_wmin > m->wmin)
        		FG_SET(\(name)_lost, 1);
        	__u32 t = __sync_fetch_and_add(&rec->\(name)_ticket, 1);
        	\(set("hmax", "t", max: true, wide: true))
        	\(set("hmin", "0xffffffffu - t", max: false, wide: true))
        	\(set("wmax", "(__u16)(t >> 4)", max: true, wide: false))
        	\(set("wmin", "(__u16)(0xffff - (t >> 4))", max: false, wide: false))
        	m->hmax = t; m->hmin = 0xffffffffu - t; m->wmax = t >> 4; m->wmin = 0xffff - (t >> 4);
        }
        """
        return (yaml, helpers, body)
    }

    @Test func twoCPUsLoseNoMinOrMax() throws {
        try requireRoot()
        let root = NSTemporaryDirectory() + "fm-race-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (name, cas) in [("fm_cas", true), ("fm_racy", false)] {
            let m = Self.raceModule(name, cas: cas)
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
            try m.yaml.write(toFile: root + "/\(name)/feature.yaml", atomically: true, encoding: .utf8)
            try m.helpers.write(toFile: root + "/\(name)/helpers.bpf.c", atomically: true, encoding: .utf8)
            try m.body.write(toFile: root + "/\(name)/update.bpf.c", atomically: true, encoding: .utf8)
        }
        let rounds = 10, perCPU: UInt32 = 100_000
        // tickets 0 ... n-1 (the flow's first packet and both CPUs' runs)
        let last = UInt64(2 * perCPU)
        let expected: [String: UInt64] = ["hmax": last, "hmin": 0xffff_ffff - last, "wmax": last >> 4, "wmin": 0xffff - (last >> 4)]
        var report: [String] = []
        for (name, cas) in [("fm_cas", true), ("fm_racy", false)] {
            let h = try ProgramHarness(features: name, maxFlows: 2 * rounds, featurePaths: [root])
            var wrong = 0
            var lost: UInt64 = 0
            var elapsed: Duration = .zero
            for round in 0..<rounds {
                let packet = Packet.ethernet().ipv4().udp(sport: UInt16(1000 + round), dport: 9, payload: [1])
                try h.send(packet) // the flow exists before both CPUs race on it
                let clock = ContinuousClock()
                let start = clock.now
                let errors = onBothCPUs { _ in try h.send(packet, repeat: perCPU) }
                elapsed += clock.now - start
                #expect(errors.isEmpty, "\(errors)")
                let k = key4("198.18.0.1", "198.18.0.2", UInt16(1000 + round), 9, 17)
                for (field, want) in expected where try h.value("\(name)_\(field)", k) != want { wrong += 1 }
                lost += try h.value("\(name)_lost", k) ?? 0
            }
            let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
            report.append("\(name): \(lost) updates lost, \(wrong) wrong final values in \(rounds) rounds, "
                          + String(format: "%.1f", ns / Double(rounds) / Double(2 * perCPU)) + " ns per packet (two CPUs, wall)")
            if cas { #expect(wrong == 0 && lost == 0, "compare-and-exchange min/max: \(report)") }
        }
        print("min/max under two CPUs: " + report.joined(separator: "; "))
    }
}

/// The command line's side of module errors: a verifier refusal names the module, its file and
/// line, and `--verifier-log FILE` holds the whole log; a broken module that is not selected
/// breaks nothing and is listed by `flowgen features`.
@Suite(.serialized) struct ModuleErrorCommandTests {
    @Test func aVerifierRefusalNamesTheModuleAndTheLogGoesToAFile() throws {
        try requireRoot()
        let root = NSTemporaryDirectory() + "fm-err-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/fm_bad", withIntermediateDirectories: true)
        try "name: fm_bad\nfields:\n  - name: fm_bad_x\n    type: u32\n    aggregation: sum\n    json: { forward: FM_BAD_IN }\nupdate: update.bpf.c\n"
            .write(toFile: root + "/fm_bad/feature.yaml", atomically: true, encoding: .utf8)
        // line 3 reads a packet byte without checking the packet is that long: the verifier refuses it
        try "/* reads past the packet check */\n__u8 *p = FG_PTR(skb, 0, 1);\nif (p) FG_SET(fm_bad_x, p[100]);\n"
            .write(toFile: root + "/fm_bad/update.bpf.c", atomically: true, encoding: .utf8)
        let log = root + "/verifier.log"
        let flowgen = try flowgenBinary()
        let r = try ProcessRunner.run([flowgen, "build", "--feature-path", root, "--allow-unsafe-feature-path", "--features", "fm_bad",
                                       "--cache-dir", root + "/cache", "--verifier-log", log])
        #expect(r.status != 0)
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.contains("module 'fm_bad' (fm_bad/update.bpf.c:3: if (p) FG_SET(fm_bad_x, p[100]);)") && first.contains("outside of the packet"), "\(r.stderr)")
        #expect(r.stderr.contains("the whole log is in \(log)") && !r.stderr.contains("error value"), "\(r.stderr)")
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("R1 offset is outside of the packet") && text.contains("; if (p) FG_SET(fm_bad_x, p[100]); @ update.bpf.c:3"))
        let mode = try FileManager.default.attributesOfItem(atPath: log)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // without the option, the message says how to get the whole log
        let again = try ProcessRunner.run([flowgen, "build", "--feature-path", root, "--allow-unsafe-feature-path", "--features", "fm_bad",
                                           "--cache-dir", root + "/cache"])
        #expect(again.status != 0 && again.stderr.contains("rerun with --verifier-log FILE"), "\(again.stderr)")
    }

    @Test func aReturnOrGotoOutOfABodyIsRefusedAtItsLine() throws {
        let root = NSTemporaryDirectory() + "fm-ret-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (name, body, line, word) in [("fm_ret", "/* leaves early */\nif (pkt->ttl == 0)\n\treturn;\nFG_SET(fm_ret_x, 1);\n", 3, "a module body must not `return`"),
                                         ("fm_jmp", "if (pkt->ttl == 0)\n\tgoto out;\nFG_SET(fm_jmp_x, 1);\nout:;\n", 2, "a module body must not `goto`")] {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
            try "name: \(name)\nfields:\n  - name: \(name)_x\n    type: u32\n    aggregation: sum\n    export: false\nupdate: update.bpf.c\n"
                .write(toFile: root + "/\(name)/feature.yaml", atomically: true, encoding: .utf8)
            try body.write(toFile: root + "/\(name)/update.bpf.c", atomically: true, encoding: .utf8)
            // refused when the module loads, before any C is compiled: no root needed
            let built = try ProcessRunner.run([try flowgenBinary(), "build", "--feature-path", root, "--allow-unsafe-feature-path", "--features", name,
                                               "--cache-dir", root + "/cache"])
            #expect(built.status != 0 && built.stderr.contains("\(root)/\(name)/update.bpf.c:\(line):") && built.stderr.contains(word), "\(built.stderr)")
        }
    }

    @Test func aBrokenModuleBreaksOnlyTheCommandsThatSelectIt() throws {
        try requireRoot()
        let root = NSTemporaryDirectory() + "fm-brk-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/fm_broken", withIntermediateDirectories: true)
        try "name: fm_broken\nfields:\n  - name: x\n    type: u9\n    aggregation: sum\n".write(toFile: root + "/fm_broken/feature.yaml", atomically: true, encoding: .utf8)
        let flowgen = try flowgenBinary()
        let common = ["--feature-path", root, "--allow-unsafe-feature-path", "--cache-dir", root + "/cache"]
        let features = try ProcessRunner.run([flowgen, "features", "--feature-path", root, "--allow-unsafe-feature-path"])
        #expect(features.status == 0 && features.stdout.contains("fm_broken: \(root)/fm_broken/feature.yaml:4: error: field 'x': unknown type 'u9'"), "\(features.stdout)")
        let ok = try ProcessRunner.run([flowgen, "build", "--features", "tcp", "-q"] + common)
        #expect(ok.status == 0, "\(ok.stderr)")
        let bad = try ProcessRunner.run([flowgen, "build", "--features", "tcp,fm_broken", "-q"] + common)
        #expect(bad.status != 0 && bad.stderr.contains("unknown type 'u9'"), "\(bad.stderr)")
    }
}
