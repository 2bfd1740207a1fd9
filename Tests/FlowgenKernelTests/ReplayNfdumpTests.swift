import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// One direction of a conversation: sender, receiver, protocol, ports (0 for ICMP/ICMPv6).
struct DirectionKey: Hashable, CustomStringConvertible {
    var src: String, dst: String, proto: UInt8, sport: UInt16, dport: UInt16
    var description: String { "\(src):\(sport) > \(dst):\(dport) proto \(proto)" }
}

/// Packets and IP bytes per direction.
typealias DirectionTally = [DirectionKey: (packets: UInt64, bytes: UInt64)]

/// An address in one canonical text form (inet_ntop of inet_pton), whatever tool printed it.
func canonicalAddress(_ text: String) -> String {
    var v4 = in_addr(), v6 = in6_addr()
    var buffer = [CChar](repeating: 0, count: 64)
    if inet_pton(AF_INET, text, &v4) == 1 { return String(cString: inet_ntop(AF_INET, &v4, &buffer, 64)) }
    if inet_pton(AF_INET6, text, &v6) == 1 { return String(cString: inet_ntop(AF_INET6, &v6, &buffer, 64)) }
    return text
}

/// The biflows of one capture as nfdump computes them: `nfpcapd -r FILE -w DIR`, then
/// `nfdump -R DIR -B` (bidirectional aggregation), read back per direction.
///
/// How the two tools are made comparable:
/// - `-B` aggregates every record of a bidirectional 5-tuple, so nfpcapd's own splitting (active
///   and idle timeouts, TCP FIN/RST, one record per DNS or ICMP packet) does not matter, and
///   flowgen's records are summed per 5-tuple the same way;
/// - nfdump keys ICMP by type/code without the echo identifier and cannot pair a request with its
///   reply, so ICMP is compared per direction of an address pair (ports 0), summed over types;
/// - the direction nfdump guesses does not matter: each direction is compared by its sender.
enum NfdumpReference {
    static func tally(capture: String) throws -> (tally: DirectionTally, log: String) {
        let dir = NSTemporaryDirectory() + "fgnf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let capture = try ProcessRunner.run(["nfpcapd", "-r", capture, "-w", dir, "-e", "3600,3600"])
        let dump = try ProcessRunner.run(["nfdump", "-R", dir, "-B", "-q", "-N", "-6",
                                          "-o", "fmt:%sa|%da|%sp|%dp|%pr|%ipkt|%ibyt|%opkt|%obyt"])
        var tally: DirectionTally = [:]
        for line in dump.stdout.split(separator: "\n") {
            let f = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == 9, let proto = UInt8(f[4]) else { continue }
            let icmp = proto == 1 || proto == 58
            let sport = icmp ? 0 : UInt16(f[2]) ?? 0
            let dport = icmp ? 0 : UInt16(f[3]) ?? 0 // ICMP prints type.code here
            let a = canonicalAddress(f[0]), b = canonicalAddress(f[1])
            add(&tally, DirectionKey(src: a, dst: b, proto: proto, sport: sport, dport: dport), UInt64(f[5]) ?? 0, UInt64(f[6]) ?? 0)
            add(&tally, DirectionKey(src: b, dst: a, proto: proto, sport: dport, dport: sport), UInt64(f[7]) ?? 0, UInt64(f[8]) ?? 0)
        }
        return (tally, capture.stdout + capture.stderr + dump.stderr)
    }

    /// flowgen's biflows summed per direction, the same way.
    static func tally(_ outcome: ReplayOutcome) -> DirectionTally {
        var tally: DirectionTally = [:]
        for flow in outcome.flows {
            for record in [flow.forward, flow.reverse] {
                guard let record else { continue }
                let k = record.key
                let icmp = k.proto == 1 || k.proto == 58
                let key = DirectionKey(src: canonicalAddress(k.src.description), dst: canonicalAddress(k.dst.description), proto: k.proto,
                                       sport: icmp ? 0 : k.sport, dport: icmp ? 0 : k.dport)
                add(&tally, key, outcome.value("packets", record) ?? 0, outcome.value("bytes", record) ?? 0)
            }
        }
        return tally
    }

    static func add(_ tally: inout DirectionTally, _ key: DirectionKey, _ packets: UInt64, _ bytes: UInt64) {
        guard packets > 0 || bytes > 0 else { return }
        let old = tally[key] ?? (0, 0)
        tally[key] = (old.packets + packets, old.bytes + bytes)
    }

    /// Lines describing every direction where the two tallies differ (empty when they agree).
    static func differences(_ a: DirectionTally, _ b: DirectionTally) -> [String] {
        var out: [String] = []
        for key in Set(a.keys).union(b.keys).sorted(by: { $0.description < $1.description }) {
            let x = a[key], y = b[key]
            if x?.packets != y?.packets || x?.bytes != y?.bytes {
                out.append("\(key): nfdump \(x.map { "\($0.packets) pkts \($0.bytes) B" } ?? "none"), flowgen \(y.map { "\($0.packets) pkts \($0.bytes) B" } ?? "none")")
            }
        }
        return out
    }
}

/// Per biflow, packets and IP bytes per direction equal what nfdump's nfpcapd + `nfdump -B`
/// compute from the same capture: real captures of the corpus and captures made here.
@Suite(.serialized) struct ReplayNfdumpTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Captures/tcpdump-tests").standardized.path

    func compare(_ path: String, minimumDirections: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (reference, log) = try NfdumpReference.tally(capture: path)
        let outcome = try replay([path], features: "tcp,icmp", idle: 3600, active: 3600)
        let ours = NfdumpReference.tally(outcome)
        #expect(outcome.statistics.failedFiles.isEmpty, sourceLocation: sourceLocation)
        #expect(reference.count >= minimumDirections, "nfdump found \(reference.count) directions in \(path): \(log)", sourceLocation: sourceLocation)
        let diff = NfdumpReference.differences(reference, ours)
        #expect(diff.isEmpty, "\(URL(fileURLWithPath: path).lastPathComponent):\n\(diff.joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        ("ssh.pcap", 2),                 // Ethernet, one TCP session SYN to FIN
        ("dns_tcp.pcap", 2),             // Ethernet, DNS over TCP
        ("ntp.pcap", 8),                 // Ethernet, UDP over 35 minutes
        ("of13_ericsson.pcapng", 42),    // pcapng, 21 OpenFlow TCP connections
        ("dhcpv4v6-rfc5970-rfc8572.pcap", 4), // IPv4 and IPv6 UDP
        ("mptcp-v1.pcap", 2),            // Linux cooked (SLL), TCP
        ("tcp-handshake-nano.pcap", 2),  // Linux cooked, nanosecond pcap
        ("resp_1_benchmark.pcap", 30),   // Linux cooked, 15 loopback TCP connections
    ])
    func realCapturesAgreeWithNfdump(name: String, directions: Int) throws {
        try compare(Self.corpus + "/" + name, minimumDirections: directions)
    }

    @Test func aCaptureMadeHereAgreesWithNfdump() throws {
        var rng = SplitMix64(seed: 7)
        var packets: [(UInt64, [UInt8])] = []
        func payload(_ n: UInt64) -> [UInt8] { [UInt8](repeating: 0x61, count: Int(n)) }
        for flow in 0..<240 {
            let kind = flow % 6
            let a = "10.\(flow % 7).\(flow / 7 % 250).\(flow % 250 + 1)", b = "172.16.\(flow % 16).\(flow % 200 + 1)"
            let a6 = PacketBuilder.IPv6Address(stringLiteral: "fd00:\(flow % 9)::\(flow + 1)"), b6 = PacketBuilder.IPv6Address(stringLiteral: "fd00:ff::\(flow % 50 + 1)")
            let sport = UInt16(20000 + flow), dport: UInt16 = [80, 443, 53, 8080, 123, 22][kind]
            var t = T0 + rng.next() % (50 * sec)
            let count = 2 + Int(rng.next() % 20)
            for k in 0..<count {
                let up = k % 3 != 1
                let size = rng.next() % 700
                var frame: [UInt8]
                switch kind {
                case 0, 3: // TCP over IPv4, one in three connections VLAN-tagged
                    var l2 = Packet.ethernet()
                    if flow % 3 == 0 { l2 = l2.vlan(UInt16(100 + flow % 10)) }
                    let flags: PacketBuilder.TCPFlags = k == 0 ? [.syn] : (k == count - 1 ? [.fin, .ack] : [.ack, .psh])
                    frame = up ? l2.ipv4(src: .init(stringLiteral: a), dst: .init(stringLiteral: b)).tcp(sport: sport, dport: dport, flags: flags, payload: payload(size)).bytes()
                               : l2.ipv4(src: .init(stringLiteral: b), dst: .init(stringLiteral: a)).tcp(sport: dport, dport: sport, flags: flags, payload: payload(size)).bytes()
                case 1: // TCP over IPv6
                    frame = up ? Packet.ethernet().ipv6(src: a6, dst: b6).tcp(sport: sport, dport: dport, payload: payload(size)).bytes()
                               : Packet.ethernet().ipv6(src: b6, dst: a6).tcp(sport: dport, dport: sport, payload: payload(size)).bytes()
                case 2, 4: // UDP over IPv4 (DNS and NTP-like)
                    frame = up ? Packet.ethernet().ipv4(src: .init(stringLiteral: a), dst: .init(stringLiteral: b)).udp(sport: sport, dport: dport, payload: payload(size)).bytes()
                               : Packet.ethernet().ipv4(src: .init(stringLiteral: b), dst: .init(stringLiteral: a)).udp(sport: dport, dport: sport, payload: payload(size)).bytes()
                default: // ICMP echo over IPv4 or ICMPv6, several identifiers per address pair
                    if flow % 2 == 0 {
                        frame = up ? Packet.ethernet().ipv4(src: .init(stringLiteral: a), dst: .init(stringLiteral: b)).icmpv4(type: 8, identifier: UInt16(k % 2), sequence: UInt16(k), payload: payload(size)).bytes()
                                   : Packet.ethernet().ipv4(src: .init(stringLiteral: b), dst: .init(stringLiteral: a)).icmpv4(type: 0, identifier: UInt16(k % 2), sequence: UInt16(k), payload: payload(size)).bytes()
                    } else {
                        frame = up ? Packet.ethernet().ipv6(src: a6, dst: b6).icmpv6(type: 128, identifier: 9, payload: payload(size)).bytes()
                                   : Packet.ethernet().ipv6(src: b6, dst: a6).icmpv6(type: 129, identifier: 9, payload: payload(size)).bytes()
                    }
                }
                packets.append((t, frame))
                t += rng.next() % (2 * sec)
            }
        }
        packets.sort { $0.0 < $1.0 }
        let files = try ScratchFiles()
        // an Ethernet capture cut to a 128-byte snapshot length (bytes come from the IP header) ...
        let w = try PcapWriter(path: files.path("made.pcap"), linkType: .ethernet, nanosecond: false, snapLength: 128)
        for (t, frame) in packets { try w.append(Array(frame.prefix(128)), timestampNs: t, originalLength: frame.count) }
        try w.close()
        try compare(files.path("made.pcap"), minimumDirections: 400)
        // ... and the same traffic as a Linux cooked capture
        let untagged = packets.filter { $0.1[12] != 0x81 }
        try compare(try files.pcap("made-sll.pcap", untagged, linkType: .linuxSLL), minimumDirections: 300)
    }

    @Test func theIntentionalDifferencesAreExactlyTheDocumentedOnes() throws {
        // nfpcapd 1.7.1 reassembles IPv4 fragments, keys IPv6 by the first next header (no extension
        // header walk) and SCTP without ports; flowgen counts each fragment as the kernel sees it
        // (later fragments without ports), walks IPv6 extension headers and keys SCTP by ports.
        let files = try ScratchFiles()
        let udp = Packet.ethernet().ipv4(id: 7).udp(sport: 1000, dport: 2000, payload: [UInt8](repeating: 1, count: 40))
        let datagram = Array(udp.bytes()[34...]) // UDP header + 40 bytes
        let f1 = Packet.ethernet().ipv4(id: 7, flags: [.moreFragments], protocol: 17).ipPayload(protocol: 17, Array(datagram[..<24]))
        let f2 = Packet.ethernet().ipv4(id: 7, fragmentOffset: 3, protocol: 17).ipPayload(protocol: 17, Array(datagram[24...]))
        let hbh = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").hopByHop().udp(sport: 3000, dport: 4000, payload: [1, 2, 3, 4])
        let sctp = Packet.ethernet().ipv4(src: "198.18.0.5", dst: "198.18.0.6").ipPayload(protocol: 132, [0x0B, 0xB8, 0x0F, 0xA0] + [UInt8](repeating: 0, count: 28))
        let path = try files.pcap("different.pcap", [(T0, f1.bytes()), (T0 + 1, f2.bytes()), (T0 + 2, hbh.bytes()), (T0 + 3, sctp.bytes())])
        let (reference, _) = try NfdumpReference.tally(capture: path)
        let ours = NfdumpReference.tally(try replay([path], features: "tcp,icmp"))
        func key(_ s: String, _ d: String, _ p: UInt8, _ sp: UInt16, _ dp: UInt16) -> DirectionKey {
            DirectionKey(src: s, dst: d, proto: p, sport: sp, dport: dp)
        }
        let frag = key("198.18.0.1", "198.18.0.2", 17, 1000, 2000), later = key("198.18.0.1", "198.18.0.2", 17, 0, 0)
        #expect(reference[frag]! == (1, 68))           // one reassembled datagram: 20 + 8 + 40
        #expect(ours[frag]! == (1, 44) && ours[later]! == (1, 44)) // two packets on the wire
        #expect(reference[key("fd00::1", "fd00::2", 0, 0, 0)]! == (1, 60))   // keyed as protocol 0 (hop-by-hop)
        #expect(ours[key("fd00::1", "fd00::2", 17, 3000, 4000)]! == (1, 60)) // UDP behind the extension header
        #expect(reference[key("198.18.0.5", "198.18.0.6", 132, 0, 0)]! == (1, 52))
        #expect(ours[key("198.18.0.5", "198.18.0.6", 132, 3000, 4000)]! == (1, 52))
        #expect(reference.count == 3 && ours.count == 4)
    }
}
