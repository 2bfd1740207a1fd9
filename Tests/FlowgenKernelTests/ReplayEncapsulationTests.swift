import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// Captures of the corpus whose IP packets sit behind headers other than Ethernet and VLAN
/// (MACsec, NSH, Arista timestamps) or carry an IP length of 0 (segmentation offload, as captured
/// on the sending host): per direction, packets and IP bytes equal what tshark (tcpdump where
/// tshark cannot decode the header) reads from the same capture, on both replay engines.
@Suite struct ReplayEncapsulationTests {
    static let corpus = ReplayCorpusTests.corpus

    /// What one `flowgen replay` of a file gave: its directions and its kernel counters.
    struct Replayed {
        var tally: DirectionTally = [:]
        var counters: [String: Int] = [:]
    }

    /// Replays `name` with `engine` through the binary (JSON lines and --stats-json), summed per direction.
    static func replay(_ name: String, engine: String) throws -> Replayed {
        let work = NSTemporaryDirectory() + "fgencap-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let result = try ProcessRunner.run([try flowgenBinary(), "replay", "-q", "--engine", engine, "--features", "icmp",
                                            "--stats-json", work + "/stats.json", corpus + "/" + name], timeout: .seconds(120))
        try #require(result.status == 0, "flowgen replay \(name) --engine \(engine): \(result.stderr)")
        var out = Replayed()
        for line in result.stdout.split(separator: "\n") {
            let flow = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let v6 = flow["IPV6_SRC_ADDR"] != nil
            let src = canonicalAddress((flow[v6 ? "IPV6_SRC_ADDR" : "IPV4_SRC_ADDR"] as? String) ?? "")
            let dst = canonicalAddress((flow[v6 ? "IPV6_DST_ADDR" : "IPV4_DST_ADDR"] as? String) ?? "")
            let proto = UInt8(flow["PROTOCOL"] as? Int ?? 0)
            let icmp = proto == 1 || proto == 58
            let sport = icmp ? 0 : UInt16(flow["L4_SRC_PORT"] as? Int ?? 0), dport = icmp ? 0 : UInt16(flow["L4_DST_PORT"] as? Int ?? 0)
            NfdumpReference.add(&out.tally, DirectionKey(src: src, dst: dst, proto: proto, sport: sport, dport: dport),
                                UInt64(flow["IN_PKTS"] as? Int ?? 0), UInt64(flow["IN_BYTES"] as? Int ?? 0))
            NfdumpReference.add(&out.tally, DirectionKey(src: dst, dst: src, proto: proto, sport: dport, dport: sport),
                                UInt64(flow["OUT_PKTS"] as? Int ?? 0), UInt64(flow["OUT_BYTES"] as? Int ?? 0))
        }
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/stats.json"))) as? [String: Any])
        out.counters = (stats["kernel_counters"] as? [String: Int] ?? [:]).filter { $0.value != 0 }
        return out
    }

    /// tshark's view, per packet: addresses, protocol, TCP/UDP ports, and the IP length: IPv4's
    /// `ip.len` (tshark itself takes the frame's length when the header says 0), IPv6's payload
    /// length + 40, or, when that is 0 (BIG TCP), the frame's length less the 14-byte Ethernet header.
    /// tshark decodes no transport header behind an IPv6 payload length of 0 without a jumbo option:
    /// there the ports are the first four bytes after the fixed header (`nxt` TCP or UDP, no
    /// extension header), read from tcpdump's hex dump of frame `number` (which starts at the IP header).
    static func portsAfterIPv6Header(_ name: String, frame number: Int) throws -> (UInt16, UInt16) {
        let dump = try ProcessRunner.run(["tcpdump", "-nn", "-x", "-r", corpus + "/" + name, "-c", "\(number)"])
        try #require(dump.status == 0, "tcpdump: \(dump.stderr)")
        let frames = dump.stdout.split(separator: "\n").split(whereSeparator: { !$0.hasPrefix("\t") })
        let words = try #require(frames.last).flatMap { $0.split(separator: ":").last!.split(separator: " ") }
        try #require(words.count >= 22, "tcpdump printed \(words.count) words of frame \(number)")
        return (UInt16(words[20], radix: 16) ?? 0, UInt16(words[21], radix: 16) ?? 0)
    }

    static func tshark(_ name: String, filter: String? = nil) throws -> DirectionTally {
        let fields = ["frame.len", "ip.src", "ip.dst", "ip.proto", "ip.len", "ipv6.src", "ipv6.dst", "ipv6.plen",
                      "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "icmp.type", "icmpv6.type", "ipv6.nxt", "frame.number"]
        let result = try ProcessRunner.run(["tshark", "-n", "-r", corpus + "/" + name, "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
                                           + (filter.map { ["-Y", $0] } ?? []) + fields.flatMap { ["-e", $0] })
        try #require(result.status == 0, "tshark \(name): \(result.stderr)")
        var tally: DirectionTally = [:]
        for line in result.stdout.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count == fields.count else { continue }
            let frame = UInt64(f[0]) ?? 0
            let v4 = !f[1].isEmpty
            guard v4 || !f[5].isEmpty else { continue }
            let tcp = !f[8].isEmpty, udp = !f[10].isEmpty
            var proto: UInt8 = tcp ? 6 : udp ? 17 : !f[12].isEmpty ? 1 : !f[13].isEmpty ? 58 : UInt8(v4 ? f[3] : f[14]) ?? 0
            var sport = UInt16(tcp ? f[8] : udp ? f[10] : "") ?? 0, dport = UInt16(tcp ? f[9] : udp ? f[11] : "") ?? 0
            let plen = UInt64(f[7]) ?? 0
            if !v4 && plen == 0 && !tcp && !udp && (f[14] == "6" || f[14] == "17") {
                proto = UInt8(f[14])!
                (sport, dport) = try portsAfterIPv6Header(name, frame: Int(f[15]) ?? 1)
            }
            let bytes = v4 ? UInt64(f[4]) ?? 0 : plen == 0 ? frame - 14 : plen + 40
            NfdumpReference.add(&tally, DirectionKey(src: canonicalAddress(v4 ? f[1] : f[5]), dst: canonicalAddress(v4 ? f[2] : f[6]),
                                                     proto: proto, sport: sport, dport: dport), 1, bytes)
        }
        return tally
    }

    static func expectSame(_ reference: DirectionTally, _ ours: Replayed, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!reference.isEmpty, "the reference found no packets in \(what)", sourceLocation: sourceLocation)
        let diff = NfdumpReference.differences(reference, ours.tally)
        #expect(diff.isEmpty, "\(what) (left: the reference):\n\(diff.joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    /// Sent with TSO or BIG TCP and captured before segmentation: IPv4 total length 0, IPv6
    /// payload length 0 (with and without a hop-by-hop jumbo option), frames of 2 to 80 KB. The
    /// kernel engine gets at most 3000 bytes of each frame, and the frame's length with it.
    @Test(arguments: ["ipv4_tcp_http_xml_tso.pcap", "bigtcp-ipv4.pcap", "bigtcp-ipv6.pcap", "bigtcp-ipv6-hbh.pcap"], ["native", "kernel"])
    func offloadedLengthsComeFromTheFrame(name: String, engine: String) throws {
        if engine == "kernel" { try requireRoot() }
        let ours = try Self.replay(name, engine: engine)
        Self.expectSame(try Self.tshark(name), ours, "\(name) on \(engine)")
        #expect(ours.counters.isEmpty, "\(ours.counters)")
    }

    /// 802.1AE frames with integrity only (TCI E and C clear), with an SCI and with a short length:
    /// the IP packet between the SecTAG and the ICV is read; encrypted (E) or changed-text (C)
    /// frames are counted as `macsec_encrypted`, one each.
    @Test(arguments: ["native", "kernel"])
    func macsecIntegrityOnlyFramesAreRead(engine: String) throws {
        if engine == "kernel" { try requireRoot() }
        for name in ["macsec-integonly.pcap", "macsec-short-valid.pcap"] {
            let ours = try Self.replay(name, engine: engine)
            Self.expectSame(try Self.tshark(name), ours, "\(name) on \(engine)")
            #expect(ours.counters.isEmpty, "\(name): \(ours.counters)")
        }
        for name in ["macsec-encrypted.pcap", "macsec-changed.pcap"] {
            let ours = try Self.replay(name, engine: engine)
            #expect(ours.tally.isEmpty && ours.counters == ["macsec_encrypted": 1], "\(name): \(ours.tally) \(ours.counters)")
        }
    }

    /// NSH (RFC 8300, MD type 1, next protocol IPv4): tshark decodes the inner UDP packet.
    @Test(arguments: ["native", "kernel"])
    func nshIsRead(engine: String) throws {
        if engine == "kernel" { try requireRoot() }
        let ours = try Self.replay("nsh.pcap", engine: engine)
        Self.expectSame(try Self.tshark("nsh.pcap"), ours, "nsh.pcap on \(engine)")
        #expect(ours.counters.isEmpty, "\(ours.counters)")
    }

    /// Arista timestamp headers (64- and 48-bit formats, TAI and UTC, both hardware-info values)
    /// before IPv4, before a VLAN tag, and before MPLS. tshark 3.x cannot decode the hardware-info
    /// R3 frames, so tcpdump is the reference: per frame its IP total length, and whether MPLS came
    /// first (flowgen does not read MPLS: those frames are `not_ip`).
    @Test(arguments: ["native", "kernel"])
    func aristaTimestampHeadersAreRead(engine: String) throws {
        if engine == "kernel" { try requireRoot() }
        let dump = try ProcessRunner.run(["tcpdump", "-nn", "-v", "-r", Self.corpus + "/arista_ether.pcap"])
        try #require(dump.status == 0, "tcpdump: \(dump.stderr)")
        // a frame's first line starts with its time; the IP header line follows on the same or next line
        var frames: [String] = []
        for line in dump.stdout.split(separator: "\n") {
            if line.first?.isNumber == true { frames.append(String(line)) } else if !frames.isEmpty { frames[frames.count - 1] += " " + line }
        }
        try #require(frames.count == 16, "tcpdump read \(frames.count) frames")
        var reference: DirectionTally = [:]
        var mpls = 0
        let length = try Regex(#"proto unknown \(63\), length (\d+)\)"#)
        for frame in frames {
            if frame.contains("MPLS") { mpls += 1; continue }
            let match = try #require(frame.firstMatch(of: length), "no IP length in: \(frame)")
            let bytes = try #require(UInt64(String(match.output[1].substring ?? "")))
            NfdumpReference.add(&reference, DirectionKey(src: "10.136.1.32", dst: "10.2.23.24", proto: 63, sport: 0, dport: 0), 1, bytes)
        }
        let ours = try Self.replay("arista_ether.pcap", engine: engine)
        Self.expectSame(reference, ours, "arista_ether.pcap on \(engine)")
        #expect(ours.counters == ["not_ip": mpls], "\(ours.counters)")
    }
}
