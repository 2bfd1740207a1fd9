import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// One direction of a flow with `--features tunnel`: the tunnel (type, id) and the 5-tuple flowgen
/// keys on (the inner one for a tunnelled packet, ports 0 for ICMP and later fragments).
struct TunnelDirection: Hashable, CustomStringConvertible {
    var type: UInt8, id: UInt32, src: String, dst: String, proto: UInt8, sport: UInt16, dport: UInt16
    var description: String { "tunnel \(type)/\(id) \(src):\(sport) > \(dst):\(dport) proto \(proto)" }
}

/// Packets and IP bytes per direction.
typealias TunnelTally = [TunnelDirection: (packets: UInt64, bytes: UInt64)]

/// What tshark decodes of a capture, turned into the directions `Templates/tunnel.h` defines:
/// VXLAN (with its VNI), Geneve (VNI), GRE carrying IPv4, IPv6 or Ethernet (key or 0) and IP in IP
/// (0) are tracked by their inner IP packet; every other IP packet by its own header, tunnel 0/0.
enum TsharkTunnelReference {
    static let fields = ["frame.protocols", "vxlan.flags", "vxlan.vni", "geneve.vni", "gre.key", "gre.proto",
                         "ip.src", "ip.dst", "ip.len", "ip.proto", "ipv6.src", "ipv6.dst", "ipv6.plen",
                         "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "sctp.srcport", "sctp.dstport"]

    /// tshark's decimal or 0x-prefixed hexadecimal number.
    static func number(_ text: Substring) -> UInt64? {
        text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    }

    static func tally(capture: String, decodeAs: [String] = []) throws -> TunnelTally {
        // no reassembly: flowgen counts fragments as they come
        var argv = ["tshark", "-r", capture, "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
                    "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=/t"]
        for d in decodeAs { argv += ["-d", d] }
        for f in fields { argv += ["-e", f] }
        let out = try ProcessRunner.run(argv, timeout: .seconds(120)).check().stdout
        var tally: TunnelTally = [:]
        for line in out.split(separator: "\n", omittingEmptySubsequences: true) {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard columns.count == fields.count else { continue }
            var value: [String: [Substring]] = [:]
            for (name, column) in zip(fields, columns) { value[name] = column.isEmpty ? [] : column.split(separator: "|") }
            if let (direction, bytes) = direction(value) {
                let old = tally[direction] ?? (0, 0)
                tally[direction] = (old.packets + 1, old.bytes + bytes)
            }
        }
        return tally
    }

    /// The direction and IP bytes of one frame, nil when flowgen keys no flow for it.
    static func direction(_ v: [String: [Substring]]) -> (TunnelDirection, UInt64)? {
        let layers = v["frame.protocols"]?.first?.split(separator: ":").map(String.init) ?? []
        guard let outer = layers.firstIndex(where: { $0 == "ip" || $0 == "ipv6" }) else { return nil }
        var l3 = outer, type: UInt8 = 0, id: UInt32 = 0
        // the layer after the outer IP header (tshark names no layer for IPv6 extension headers)
        let next = outer + 1 < layers.count ? layers[outer + 1] : ""
        let after = outer + 2 < layers.count ? layers[outer + 2] : ""
        /// The first IP layer at or after `i`, skipping an Ethernet header and one VLAN tag.
        func innerIP(from i: Int) -> Int? {
            var j = i
            while j < layers.count, ["eth", "ethertype", "vlan"].contains(layers[j]) { j += 1 }
            return j < layers.count && (layers[j] == "ip" || layers[j] == "ipv6") ? j : nil
        }
        // tshark decodes VXLAN without its I flag (0x0800 of the flags) too; the VNI is valid only with it
        let vxlanValid = (number(v["vxlan.flags"]?.first ?? "") ?? 0) & 0x0800 != 0
        if next == "udp" && ((after == "vxlan" && vxlanValid) || after == "geneve") {
            type = after == "vxlan" ? 1 : 2
            id = UInt32(number(v[after == "vxlan" ? "vxlan.vni" : "geneve.vni"]?.first ?? "") ?? 0)
            guard let inner = innerIP(from: outer + 3) else { return nil } // ARP in VXLAN: not IP
            l3 = inner
        } else if next == "gre", let proto = number(v["gre.proto"]?.first ?? ""), [0x0800, 0x86DD, 0x6558].contains(proto) {
            type = 3
            id = UInt32(number(v["gre.key"]?.first ?? "") ?? 0)
            guard let inner = innerIP(from: outer + 2) else { return nil }
            l3 = inner
        } else if next == "ip" || next == "ipv6" {
            type = 4
            l3 = outer + 1
        }
        let v6 = layers[l3] == "ipv6"
        let family = v6 ? "ipv6" : "ip"
        let occurrence = layers[..<l3].filter { $0 == family }.count
        func field(_ name: String, _ index: Int) -> Substring? {
            guard let all = v[name], index < all.count else { return nil }
            return all[index]
        }
        guard let src = field("\(family).src", occurrence), let dst = field("\(family).dst", occurrence) else { return nil }
        let bytes = v6 ? (number(field("ipv6.plen", occurrence) ?? "") ?? 0) + 40 : number(field("ip.len", occurrence) ?? "") ?? 0
        let transport = l3 + 1 < layers.count ? layers[l3 + 1] : ""
        var proto: UInt8
        switch transport {
        case "tcp": proto = 6
        case "udp": proto = 17
        case "sctp": proto = 132
        case "icmp": proto = 1
        case "icmpv6": proto = 58
        default:
            guard !v6, let p = field("ip.proto", occurrence).flatMap({ number($0) }) else { return nil }
            proto = UInt8(p)
        }
        var sport: UInt16 = 0, dport: UInt16 = 0
        if ["tcp", "udp", "sctp"].contains(transport) {
            let index = layers[..<(l3 + 1)].filter { $0 == transport }.count
            sport = UInt16(field("\(transport).srcport", index).flatMap { number($0) } ?? 0)
            dport = UInt16(field("\(transport).dstport", index).flatMap { number($0) } ?? 0)
        }
        return (TunnelDirection(type: type, id: id, src: canonicalAddress(String(src)), dst: canonicalAddress(String(dst)),
                                proto: proto, sport: sport, dport: dport), bytes)
    }

    /// flowgen's JSON lines summed per direction, the same way.
    static func tally(json: String) throws -> TunnelTally {
        var tally: TunnelTally = [:]
        for line in json.split(separator: "\n") {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let src = (o["IPV4_SRC_ADDR"] ?? o["IPV6_SRC_ADDR"]) as? String ?? "", dst = (o["IPV4_DST_ADDR"] ?? o["IPV6_DST_ADDR"]) as? String ?? ""
            func n(_ k: String) -> UInt64 { (o[k] as? NSNumber)?.uint64Value ?? 0 }
            let type = UInt8(n("tunnel_type")), id = UInt32(n("tunnel_id")), proto = UInt8(n("PROTOCOL"))
            let sport = UInt16(n("L4_SRC_PORT")), dport = UInt16(n("L4_DST_PORT"))
            for (d, packets, bytes) in [(TunnelDirection(type: type, id: id, src: canonicalAddress(src), dst: canonicalAddress(dst), proto: proto, sport: sport, dport: dport), n("IN_PKTS"), n("IN_BYTES")),
                                        (TunnelDirection(type: type, id: id, src: canonicalAddress(dst), dst: canonicalAddress(src), proto: proto, sport: dport, dport: sport), n("OUT_PKTS"), n("OUT_BYTES"))]
            where packets > 0 {
                let old = tally[d] ?? (0, 0)
                tally[d] = (old.packets + packets, old.bytes + bytes)
            }
        }
        return tally
    }

    /// Lines describing every direction where the two tallies differ (empty when they agree).
    static func differences(_ reference: TunnelTally, _ ours: TunnelTally) -> [String] {
        Set(reference.keys).union(ours.keys).sorted { $0.description < $1.description }.compactMap { key in
            let x = reference[key], y = ours[key]
            guard x?.packets != y?.packets || x?.bytes != y?.bytes else { return nil }
            return "\(key): tshark \(x.map { "\($0.packets) pkts \($0.bytes) B" } ?? "none"), flowgen \(y.map { "\($0.packets) pkts \($0.bytes) B" } ?? "none")"
        }
    }
}

/// `--features tunnel` on the corpus's tunnel captures (both engines against tshark), on crafted
/// tunnels with known answers, and live on a VXLAN and a GRE tunnel between two namespaces.
@Suite(.serialized) struct TunnelTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Captures/tcpdump-tests").standardized.path

    /// Replays `files` with `features` on the kernel engine and the native one; both JSON outputs.
    func bothEngines(_ files: [String], features: String = "tunnel") throws -> (kernel: EngineOutcome, native: EngineOutcome) {
        let kernel = try EngineComparison.replay(files, program: .kernel(try EngineComparison.kernel(features, maxFlows: 4096)), idle: 3600, active: 3600)
        let native = try EngineComparison.replay(files, program: .native(try EngineComparison.native(EngineComparison.plan(features, maxFlows: 4096))),
                                                 idle: 3600, active: 3600)
        return (kernel, native)
    }

    @Test(arguments: [
        ("vxlan.pcap", 1, ""),                        // ICMP in VXLAN VNI 100, and ARP in it (not IP)
        ("vxlan_port_8472.pcap", 1, "udp.port==8472,vxlan"), // VXLAN on Linux's default port
        ("geneve.pcap", 3, ""),                       // Geneve with options, VNIs 10 and 11, ICMP and SSH
        ("geneve-gcp.pcap", 1, ""),                   // Geneve carrying IPv4 directly (no Ethernet)
        ("gso-ipv4-vxlan-ipv4.pcap", 1, ""),          // GSO packets: inner IPv4/IPv6 in outer IPv4/IPv6
        ("gso-ipv4-vxlan-ipv6.pcap", 1, ""),
        ("gso-ipv6-vxlan-ipv4.pcap", 1, ""),
        ("gso-ipv6-vxlan-ipv6.pcap", 1, ""),
        ("gso-ipv4-geneve-ipv4.pcap", 1, ""),
        ("gso-ipv4-geneve-ipv6.pcap", 1, ""),
        ("gso-ipv6-geneve-ipv4.pcap", 1, ""),
        ("gso-ipv6-geneve-ipv6.pcap", 1, ""),
        ("various_gre.pcap", 0, ""),                  // Cisco GRE (CMD, keepalives): not decapsulated
        ("erspan-type-ii-2.pcap", 0, ""),             // GRE carrying ERSPAN: not decapsulated
    ])
    func corpusTunnelsGiveTsharksInnerFlows(name: String, tunnelled: Int, decodeAs: String) throws {
        let path = Self.corpus + "/" + name
        let reference = try TsharkTunnelReference.tally(capture: path, decodeAs: decodeAs.isEmpty ? [] : [decodeAs])
        #expect(reference.keys.filter { $0.type != 0 }.count >= tunnelled, "tshark found \(reference) in \(name)")
        let (kernel, native) = try bothEngines([path])
        for (engine, outcome) in [("kernel", kernel), ("native", native)] {
            let diff = TsharkTunnelReference.differences(reference, try TsharkTunnelReference.tally(json: outcome.json))
            #expect(diff.isEmpty, "\(name) on the \(engine) engine:\n\(diff.joined(separator: "\n"))")
        }
        #expect(kernel == native, "\(name): kernel and native engines differ")
    }

    /// A crafted capture whose flows are known from the encapsulations' specifications.
    static func craftedCapture() -> [(UInt64, [UInt8])] {
        var p: [(UInt64, [UInt8])] = []
        var t = T0
        func add(_ frame: [UInt8]) { p.append((t, frame)); t += msec }
        let innerUp = Packet.ethernet().ipv4(src: "10.0.0.1", dst: "10.0.0.2").udp(sport: 1111, dport: 2222, payload: [UInt8](repeating: 7, count: 12))
        let innerDown = innerUp.reversed()
        func vxlan(_ vni: UInt32, _ inner: PacketBuilder, up: Bool, sport: UInt16) -> [UInt8] {
            let header: [UInt8] = [0x08, 0, 0, 0, UInt8(vni >> 16), UInt8(vni >> 8 & 0xFF), UInt8(vni & 0xFF), 0]
            let outer = up ? Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2") : Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1")
            return outer.udp(sport: sport, dport: 4789, payload: header + inner.bytes()).bytes()
        }
        // the same inner 5-tuple in VNI 1 (2 up, 1 down) and in VNI 2 (1 up): two biflows
        add(vxlan(1, innerUp, up: true, sport: 50000))
        add(vxlan(1, innerDown, up: false, sport: 50001))
        add(vxlan(1, innerUp, up: true, sport: 50002)) // another outer source port: still the same inner flow
        add(vxlan(2, innerUp, up: true, sport: 50000))
        // GRE with checksum, key 0x01020304 and sequence number, carrying IPv6 TCP
        let tcp6 = Packet.raw().ipv6(src: "fd00:1::1", dst: "fd00:1::2").tcp(sport: 40000, dport: 443, flags: [.syn]).bytes()
        let gre: [UInt8] = [0xB0, 0x00, 0x86, 0xDD, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 9]
        add(Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.3").ipPayload(protocol: 47, gre + tcp6).bytes())
        // IPv4 in IPv6 (protocol 4): tunnel id 0
        let icmp4 = Packet.raw().ipv4(src: "10.9.9.1", dst: "10.9.9.2").icmpv4(type: 8, identifier: 5, sequence: 1).bytes()
        add(Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").ipPayload(protocol: 4, icmp4).bytes())
        // Geneve with 8 bytes of options, VNI 0xABCDEF, inner Ethernet with a VLAN tag
        let geneve: [UInt8] = [0x02, 0x00, 0x65, 0x58, 0xAB, 0xCD, 0xEF, 0, 1, 2, 3, 4, 5, 6, 7, 8]
        let tagged = Packet.ethernet().vlan(7).ipv4(src: "10.1.1.1", dst: "10.1.1.2").tcp(sport: 5555, dport: 80, flags: [.ack], payload: [1, 2, 3])
        add(Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").udp(sport: 6000, dport: 6081, payload: geneve + tagged.bytes()).bytes())
        // UDP to 4789 without the VXLAN I flag: the outer flow, tunnel 0
        add(Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").udp(sport: 7000, dport: 4789, payload: [0, 0, 0, 0, 0, 0, 1, 0] + innerUp.bytes()).bytes())
        return p
    }

    @Test func craftedTunnelsAreKeyedByTheirInnerFlowAndTunnel() throws {
        let files = try ScratchFiles()
        let path = try files.pcap("tunnels.pcap", Self.craftedCapture())
        let (kernel, native) = try bothEngines([path])
        #expect(kernel == native, "kernel and native engines differ")
        let inner = 20 + 8 + 12 // IPv4 + UDP + payload
        let expected: TunnelTally = [
            TunnelDirection(type: 1, id: 1, src: "10.0.0.1", dst: "10.0.0.2", proto: 17, sport: 1111, dport: 2222): (2, UInt64(2 * inner)),
            TunnelDirection(type: 1, id: 1, src: "10.0.0.2", dst: "10.0.0.1", proto: 17, sport: 2222, dport: 1111): (1, UInt64(inner)),
            TunnelDirection(type: 1, id: 2, src: "10.0.0.1", dst: "10.0.0.2", proto: 17, sport: 1111, dport: 2222): (1, UInt64(inner)),
            TunnelDirection(type: 3, id: 0x0102_0304, src: "fd00:1::1", dst: "fd00:1::2", proto: 6, sport: 40000, dport: 443): (1, 40 + 20),
            TunnelDirection(type: 4, id: 0, src: "10.9.9.1", dst: "10.9.9.2", proto: 1, sport: 0, dport: 0): (1, 20 + 8),
            TunnelDirection(type: 2, id: 0xABCDEF, src: "10.1.1.1", dst: "10.1.1.2", proto: 6, sport: 5555, dport: 80): (1, 20 + 20 + 3),
            TunnelDirection(type: 0, id: 0, src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 7000, dport: 4789): (1, UInt64(20 + 8 + 8 + 14 + inner)),
        ]
        let diff = TsharkTunnelReference.differences(expected, try TsharkTunnelReference.tally(json: native.json))
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
        // and tshark reads the crafted capture the same way (the reference is the specification)
        let tshark = TsharkTunnelReference.differences(expected, try TsharkTunnelReference.tally(capture: path))
        #expect(tshark.isEmpty, "tshark: \(tshark.joined(separator: "\n"))")
        #expect(native.json.split(separator: "\n").count == 6, "the VNI 1 directions pair into one biflow: \(native.json)")
    }

    @Test func withoutTheFeatureTunnelsStayOuterFlows() throws {
        let files = try ScratchFiles()
        let path = try files.pcap("tunnels.pcap", Self.craftedCapture())
        let (kernel, native) = try bothEngines([path], features: "")
        #expect(kernel == native)
        #expect(!native.json.contains("tunnel_"), "no tunnel fields without the feature")
        let tally = try TsharkTunnelReference.tally(json: native.json)
        // outer flows: VXLAN 198.18.0.1 -> .2 UDP port 4789 from three source ports (and one more for the flagless packet)
        #expect(tally.keys.allSatisfy { $0.src.hasPrefix("198.18.") || $0.src.hasPrefix("fd00::") })
    }

    /// Two VXLAN tunnels between two namespaces, VNI 42 on the IANA port and VNI 4242 on Linux's
    /// default port 8472, pinged through; flowgen on the underlay veth exports the inner ICMP flows
    /// with their tunnel ids, and no outer flow. (This kernel has VXLAN but no GRE, IP-in-IP or
    /// Geneve devices: those are tested on captures.)
    @Test func liveVXLANTunnelsAreExportedAsInnerFlows() throws {
        let lab = try OperationsLab(prefix: "htun")
        defer { lab.close() }
        for (ns, me, peer, last) in [(lab.a, "198.18.0.1", "198.18.0.2", "1"), (lab.b, "198.18.0.2", "198.18.0.1", "2")] {
            let dev = ns === lab.a ? lab.veth.nameA : lab.veth.nameB
            try ns.exec(["ip", "link", "add", "htunvx0", "type", "vxlan", "id", "42", "local", me, "remote", peer, "dstport", "4789", "dev", dev]).check()
            try ns.exec(["ip", "link", "add", "htunvx1", "type", "vxlan", "id", "4242", "local", me, "remote", peer, "dstport", "8472", "dev", dev]).check()
            for (link, net) in [("htunvx0", "198.19.42"), ("htunvx1", "198.19.7")] {
                // no IPv6 on the tunnels: router and neighbour solicitations would be inner flows too
                try ns.exec(["ip", "link", "set", link, "addrgenmode", "none"]).check()
                try ns.exec(["ip", "addr", "add", "\(net).\(last)/24", "dev", link]).check()
                try ns.exec(["ip", "link", "set", link, "up"]).check()
            }
        }
        let out = lab.work + "/flows"
        let process = try lab.spawnFlowgen(["run", "-q", "-i", lab.veth.nameA, "--features", "tunnel", "--interval", "0",
                                            "--duration", "12", "--output", out])
        try lab.waitForAttach(process)
        try lab.a.exec(["ping", "-c", "4", "-i", "0.2", "-W", "2", "198.19.42.2"], timeout: .seconds(20)).check()
        try lab.a.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", "198.19.7.2"], timeout: .seconds(20)).check()
        #expect(lab.wait(30) { !process.isRunning }, "flowgen did not stop after --duration")
        let flows = try lab.flows(in: out)
        func flow(_ src: String) -> [String: Any]? { flows.first { $0["IPV4_SRC_ADDR"] as? String == src && $0["PROTOCOL"] as? Int == 1 } }
        // ping's default 56 data bytes: ICMP 64, IPv4 84 (inner IP bytes, no outer header)
        let vx = try #require(flow("198.19.42.1"), "no inner ICMP flow of the VXLAN tunnel in \(flows)")
        #expect(vx["IPV4_DST_ADDR"] as? String == "198.19.42.2")
        #expect(vx["tunnel_id"] as? Int == 42 && vx["tunnel_type"] as? Int == 1)
        #expect(vx["IN_PKTS"] as? Int == 4 && vx["OUT_PKTS"] as? Int == 4 && vx["IN_BYTES"] as? Int == 4 * 84 && vx["OUT_BYTES"] as? Int == 4 * 84, "\(vx)")
        let other = try #require(flow("198.19.7.1"), "no inner ICMP flow of the VXLAN tunnel on port 8472 in \(flows)")
        #expect(other["tunnel_id"] as? Int == 4242 && other["tunnel_type"] as? Int == 1)
        #expect(other["IN_PKTS"] as? Int == 3 && other["OUT_PKTS"] as? Int == 3 && other["IN_BYTES"] as? Int == 3 * 84, "\(other)")
        // every tunnelled packet became its inner flow: no outer VXLAN flow is left
        #expect(!flows.contains { $0["PROTOCOL"] as? Int == 17 && [4789, 8472].contains($0["L4_DST_PORT"] as? Int ?? 0) }, "\(flows)")
        // IPv4 crossed the veth only in the tunnels; the veth's own IPv6 chatter (router and
        // neighbour solicitations, MLD) is outside any tunnel: tunnel type and id 0
        #expect(flows.filter { $0["IPV4_SRC_ADDR"] != nil }.allSatisfy { ($0["tunnel_type"] as? Int) == 1 }, "\(flows)")
        #expect(flows.filter { $0["IPV6_SRC_ADDR"] != nil }.allSatisfy { ($0["tunnel_type"] as? Int) == 0 && ($0["tunnel_id"] as? Int) == 0 }, "\(flows)")
    }
}
