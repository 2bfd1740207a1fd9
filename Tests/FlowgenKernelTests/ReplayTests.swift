import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// Collects the biflows a replay exports.
final class CollectedFlows: FlowExporter, @unchecked Sendable {
    var flows: [Biflow] = []
    func export(_ flows: [Biflow]) throws { self.flows += flows }
    func close() throws {}
}

/// What one replay produced.
struct ReplayOutcome {
    let flows: [Biflow]
    let statistics: ReplayStatistics
    let decoder: RecordDecoder

    func value(_ field: String, _ record: FlowRecord?) -> UInt64? {
        guard let record else { return nil }
        return decoder.value(field, in: record)
    }

    /// The biflow whose forward direction starts at `src`:`sport` (ICMP: the identifier), in export order.
    func flows(from src: String, sport: UInt16) -> [Biflow] {
        flows.filter { $0.forward.key.src.description == src && $0.forward.key.sport == sport }
    }
}

/// Loads a monitor in replay mode and replays `files` into a collecting exporter.
func replay(_ files: [String], features: String = "tcp,icmp", idle: Double = 60, active: Double = 1800,
            workers: Int = 2, maxFlows: Int = 4096, fullPasses: Bool = false) throws -> ReplayOutcome {
    let h = try ProgramHarness(features: features, maxFlows: maxFlows)
    let out = CollectedFlows()
    let policy = ExpiryPolicy(idleTimeoutNs: UInt64(idle * 1e9), activeTimeoutNs: UInt64(active * 1e9))
    let replay = try CaptureReplay(monitor: h.monitor, exporter: out, options: ReplayOptions(policy: policy, workers: workers))
    replay.plainPasses = fullPasses
    let statistics = try replay.run(files: files)
    return ReplayOutcome(flows: out.flows, statistics: statistics, decoder: h.decoder)
}

/// Temporary files of one test, removed at the end.
final class ScratchFiles {
    let directory = NSTemporaryDirectory() + "fgreplay-\(UUID().uuidString)"
    init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: directory) }
    func path(_ name: String) -> String { directory + "/" + name }

    /// Writes `packets` (Ethernet frames with their capture times) as a pcap of `linkType`.
    @discardableResult
    func pcap(_ name: String, _ packets: [(UInt64, [UInt8])], linkType: CaptureLinkType = .ethernet,
              nanosecond: Bool = true, bigEndian: Bool = false, family6: UInt32 = 24, bigEndianFamily: Bool = false) throws -> String {
        let w = try PcapWriter(path: path(name), linkType: linkType, nanosecond: nanosecond, bigEndian: bigEndian)
        for (t, frame) in packets {
            try w.append(relink(frame, to: linkType, family6: family6, bigEndianFamily: bigEndianFamily), timestampNs: t)
        }
        try w.close()
        return path(name)
    }

    /// Writes raw bytes.
    @discardableResult
    func raw(_ name: String, _ bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }
}

/// An (untagged) Ethernet frame re-encapsulated for another link layer, as a capture of that link would hold it.
func relink(_ frame: [UInt8], to type: CaptureLinkType, family6: UInt32 = 24, bigEndianFamily: Bool = false) -> [UInt8] {
    if type == .ethernet { return frame }
    let etherType = UInt16(frame[12]) << 8 | UInt16(frame[13])
    let payload = Array(frame[14...])
    let family: UInt32 = etherType == 0x86DD ? family6 : 2
    func word(_ v: UInt32, big: Bool) -> [UInt8] { withUnsafeBytes(of: big ? v.bigEndian : v.littleEndian) { Array($0) } }
    switch type.rawValue {
    case 12, 14, 101, 228, 229: return payload
    case 113: return [0, 0, 0, 1, 0, 6] + Array(frame[6..<12]) + [0, 0] + [frame[12], frame[13]] + payload
    case 276: return [frame[12], frame[13], 0, 0, 0, 0, 0, 3, 0, 1, 0, 6] + Array(frame[6..<12]) + [0, 0] + payload
    case 0: return word(family, big: bigEndianFamily) + payload
    case 108: return word(family, big: true) + payload
    case 8: return [0, 0x40] + [UInt8](repeating: 0, count: 14) + payload
    case 9, 50: return [0xFF, 0x03, 0x00, etherType == 0x86DD ? 0x57 : 0x21] + payload
    case 104: return [0x0F, 0x00, frame[12], frame[13]] + payload
    case 107: return [0x18, 0x41, 0x03, etherType == 0x86DD ? 0x8E : 0xCC] + payload
    case 100, 106: return [0xAA, 0xAA, 0x03, 0, 0, 0, frame[12], frame[13]] + payload
    case 105: return [0x08, 0x02, 0, 0] + [UInt8](repeating: 1, count: 20) + [0xAA, 0xAA, 0x03, 0, 0, 0, frame[12], frame[13]] + payload
    case 127: return [0, 0, 8, 0, 0, 0, 0, 0] + relink(frame, to: .ieee80211)
    case 129: return [1, 2, 0, 0, etherType == 0x86DD ? 196 : 212, 0, 0, 0] + payload
    case 242: return [frame[12], frame[13], 0, 0] + payload
    default: preconditionFailure("no encapsulation for \(type)")
    }
}

let T0: UInt64 = 1_700_000_000_000_000_000
let sec: UInt64 = 1_000_000_000
let msec: UInt64 = 1_000_000

/// A small capture with one flow of each kind and timing that exercises every end reason.
func craftedConversation() -> [(UInt64, [UInt8])] {
    var p: [(UInt64, [UInt8])] = []
    let c = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2")
    let s = Packet.ethernet(src: "02:00:00:00:00:02", dst: "02:00:00:00:00:01").ipv4(src: "198.18.0.2", dst: "198.18.0.1")
    let t = T0 + sec
    p.append((t, c.tcp(sport: 40000, dport: 80, seq: 1, flags: [.syn]).bytes()))
    p.append((t + msec, s.tcp(sport: 80, dport: 40000, flags: [.syn, .ack]).bytes()))
    p.append((t + 2 * msec, c.tcp(sport: 40000, dport: 80, flags: [.ack]).bytes()))
    p.append((t + 3 * msec, c.tcp(sport: 40000, dport: 80, flags: [.psh, .ack], payload: [UInt8](repeating: 1, count: 100)).bytes()))
    p.append((t + 4 * msec, s.tcp(sport: 80, dport: 40000, flags: [.psh, .ack], payload: [UInt8](repeating: 2, count: 1000)).bytes()))
    p.append((t + 5 * msec, c.tcp(sport: 40000, dport: 80, flags: [.fin, .ack]).bytes()))
    p.append((t + 6 * msec, s.tcp(sport: 80, dport: 40000, flags: [.fin, .ack]).bytes()))
    p.append((t + 7 * msec, c.tcp(sport: 40000, dport: 80, flags: [.ack]).bytes()))
    // DNS: idle after 1.6 s
    p.append((T0 + 1_500 * msec, Packet.ethernet().ipv4(src: "198.18.0.3", dst: "198.18.0.4").udp(sport: 5000, dport: 53, payload: [UInt8](repeating: 3, count: 30)).bytes()))
    p.append((T0 + 1_600 * msec, Packet.ethernet().ipv4(src: "198.18.0.4", dst: "198.18.0.3").udp(sport: 53, dport: 5000, payload: [UInt8](repeating: 4, count: 100)).bytes()))
    // NTP-like: one packet a second from 1 s to 30 s (drives the passes; active timeouts)
    for k in UInt64(1)...30 {
        p.append((T0 + k * sec, Packet.ethernet().ipv4(src: "198.18.0.5", dst: "198.18.0.6").udp(sport: 123, dport: 123, payload: [UInt8](repeating: 5, count: 48)).bytes()))
    }
    // ping: three echo requests and replies
    for k in UInt64(2)...4 {
        p.append((T0 + k * sec, Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.7").icmpv4(type: 8, identifier: 77, sequence: UInt16(k), payload: [UInt8](repeating: 6, count: 56)).bytes()))
        p.append((T0 + k * sec + msec, Packet.ethernet().ipv4(src: "198.18.0.7", dst: "198.18.0.1").icmpv4(type: 0, identifier: 77, sequence: UInt16(k), payload: [UInt8](repeating: 6, count: 56)).bytes()))
    }
    // IPv6 UDP, one way, until the end
    for k: UInt64 in [25, 29] {
        p.append((T0 + k * sec, Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").udp(sport: 6000, dport: 7000, payload: [UInt8](repeating: 7, count: 10)).bytes()))
    }
    return p.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element)
}

/// Replays of crafted captures through the real program, with exact expected biflows.
@Suite(.serialized) struct ReplayTests {
    @Test func craftedCaptureGivesExactBiflowsAndEveryEndReason() throws {
        let files = try ScratchFiles()
        let path = try files.pcap("conversation.pcap", craftedConversation())
        let r = try replay([path], idle: 10, active: 10)
        let f = r.flows
        try #require(f.count == 7, "\(f.map { "\($0.forward.key) \($0.endReason)" })")
        #expect(f.map(\.id) == Array(1...7))

        let tcp = f[0]
        #expect(tcp.forward.key.src.description == "198.18.0.1" && tcp.forward.key.sport == 40000 && tcp.forward.key.dport == 80)
        #expect(tcp.endReason == .endOfFlow)
        #expect(r.value("packets", tcp.forward) == 5 && r.value("bytes", tcp.forward) == 40 + 40 + 140 + 40 + 40)
        #expect(r.value("packets", tcp.reverse) == 3 && r.value("bytes", tcp.reverse) == 40 + 1040 + 40)
        #expect(r.value("first_seen", tcp.forward) == T0 + sec && r.value("last_seen", tcp.forward) == T0 + sec + 7 * msec)
        #expect(r.value("first_seen", tcp.reverse) == T0 + sec + msec && r.value("last_seen", tcp.reverse) == T0 + sec + 6 * msec)
        #expect(r.value("tcp_flags", tcp.forward) == 0x1B && r.value("tcp_flags", tcp.reverse) == 0x1B)

        let ntp1 = f[1], ntp2 = f[4], ntp3 = f[5]
        for (record, first, reason) in [(ntp1, UInt64(1), EndReason.activeTimeout), (ntp2, 11, .activeTimeout), (ntp3, 21, .endOfCapture)] {
            #expect(record.forward.key.sport == 123 && record.reverse == nil)
            #expect(record.endReason == reason)
            #expect(r.value("packets", record.forward) == 10 && r.value("bytes", record.forward) == 10 * 76)
            #expect(r.value("first_seen", record.forward) == T0 + first * sec)
            #expect(r.value("last_seen", record.forward) == T0 + (first + 9) * sec)
        }

        let dns = f[2]
        #expect(dns.forward.key.sport == 5000 && dns.endReason == .idleTimeout)
        #expect(r.value("packets", dns.forward) == 1 && r.value("bytes", dns.forward) == 58)
        #expect(r.value("packets", dns.reverse) == 1 && r.value("bytes", dns.reverse) == 128)
        #expect(r.value("first_seen", dns.forward) == T0 + 1_500 * msec && r.value("last_seen", dns.reverse) == T0 + 1_600 * msec)

        let ping = f[3]
        #expect(ping.forward.key.proto == 1 && ping.forward.key.sport == 77 && ping.forward.key.dport == 8 << 8)
        #expect(ping.endReason == .activeTimeout) // 10 s after its first packet, before it was idle for 10 s
        #expect(r.value("packets", ping.forward) == 3 && r.value("bytes", ping.forward) == 3 * 84)
        #expect(r.value("packets", ping.reverse) == 3 && r.value("bytes", ping.reverse) == 3 * 84)
        #expect(r.value("last_seen", ping.reverse) == T0 + 4 * sec + msec)

        let v6 = f[6]
        #expect(v6.forward.key.ipVersion == 6 && v6.forward.key.sport == 6000 && v6.endReason == .endOfCapture)
        #expect(r.value("packets", v6.forward) == 2 && r.value("bytes", v6.forward) == 2 * 58)
        #expect(r.value("first_seen", v6.forward) == T0 + 25 * sec && r.value("last_seen", v6.forward) == T0 + 29 * sec)

        let s = r.statistics
        #expect(s.packetsRead == 48 && s.packetsRun == 48 && s.notIP == 0 && s.truncated == 0 && s.refused == 0)
        #expect(s.flowsExported == 7)
        #expect(s.passes >= 4 && s.passes <= 29) // at most before the first packet of each second from 2 s to 30 s; at least the 4 that export
        #expect(s.kernelCounters.values.reduce(0, +) == 0)
        #expect(s.files == [ReplayStatistics.File(path: path, format: "pcap (ns)", linkTypes: [1], packets: 48, error: nil)])
    }

    @Test func aGapInTheCaptureEndsIdleFlowsBeforeTheNextPacketJoinsThem() throws {
        let files = try ScratchFiles()
        let udp = Packet.ethernet().ipv4().udp(sport: 1, dport: 2, payload: [1]).bytes()
        // the same 5-tuple, 100 s apart, nothing in between: two flows with idle timeout 60 s
        let path = try files.pcap("gap.pcap", [(T0, udp), (T0 + sec / 2, udp), (T0 + 100 * sec, udp)])
        let r = try replay([path], idle: 60)
        #expect(r.flows.count == 2)
        #expect(r.flows.first?.endReason == .idleTimeout && r.value("packets", r.flows.first?.forward) == 2)
        #expect(r.flows.last?.endReason == .endOfCapture && r.value("first_seen", r.flows.last?.forward) == T0 + 100 * sec)
    }

    @Test func resultsAreTheSameWhateverTheThreadCountAndPassesOverTheWholeTable() throws {
        // 400 flows over 20 s (UDP, TCP closed by FIN or RST, ping) with random sizes and gaps:
        // idle, active and end-of-flow expiry fire all along the capture
        var rng = SplitMix64(seed: 42)
        var packets: [(UInt64, [UInt8])] = []
        for flow in 0..<400 {
            let host = PacketBuilder.IPv4Address([10, 1, UInt8(flow / 200), UInt8(flow % 200 + 1)])
            let a = Packet.ethernet().ipv4(src: host, dst: "10.9.9.9")
            let b = Packet.ethernet().ipv4(src: "10.9.9.9", dst: host)
            let port = UInt16(1000 + flow)
            var t = T0 + rng.next() % (15 * sec)
            let count = 2 + Int(rng.next() % 12)
            for k in 0..<count {
                let size = Int(rng.next() % 300)
                let up = k % 3 != 1
                let body = [UInt8](repeating: 0, count: size)
                let last = k == count - 1
                let frame: [UInt8]
                switch flow % 4 {
                case 0:
                    frame = up ? a.udp(sport: port, dport: 53, payload: body).bytes() : b.udp(sport: 53, dport: port, payload: body).bytes()
                case 1:
                    let flags: PacketBuilder.TCPFlags = k == 0 ? [.syn] : (k >= count - 2 ? [.fin, .ack] : [.ack])
                    frame = up ? a.tcp(sport: port, dport: 80, flags: flags, payload: body).bytes()
                               : b.tcp(sport: 80, dport: port, flags: flags, payload: body).bytes()
                case 2:
                    frame = up ? a.tcp(sport: port, dport: 443, flags: last ? [.rst] : [.ack], payload: body).bytes()
                               : b.tcp(sport: 443, dport: port, flags: [.ack], payload: body).bytes()
                default:
                    frame = up ? a.icmpv4(type: 8, identifier: port, payload: body).bytes() : b.icmpv4(type: 0, identifier: port, payload: body).bytes()
                }
                packets.append((t, frame))
                t += rng.next() % (3 * sec)
            }
        }
        // then 100 s of one steady flow: only its active timeout every 5 s can end anything
        let steady = Packet.ethernet().ipv4(src: "10.7.7.7", dst: "10.9.9.9").udp(sport: 9999, dport: 9999, payload: [1, 2]).bytes()
        for k in UInt64(0)..<200 { packets.append((T0 + 40 * sec + k * sec / 2, steady)) }
        packets.sort { $0.0 < $1.0 }
        let files = try ScratchFiles()
        let path = try files.pcap("many.pcap", packets)
        func run(_ workers: Int, full: Bool = false) throws -> ReplayOutcome {
            try replay([path], idle: 2, active: 5, workers: workers, fullPasses: full)
        }
        let one = try run(1), two = try run(2), three = try run(3), again = try run(2), full = try run(2, full: true)
        #expect(one.flows.count > 400, "timeouts split flows")
        for reason in [EndReason.idleTimeout, .activeTimeout, .endOfFlow, .endOfCapture] {
            #expect(one.flows.contains { $0.endReason == reason }, "\(reason)")
        }
        #expect(one.flows == two.flows)
        #expect(two.flows == three.flows)
        #expect(two.flows == again.flows)
        #expect(two.flows == full.flows, "passes over the flows that could end equal passes over the whole table")
        #expect(one.statistics.passes == two.statistics.passes)
        #expect(two.statistics.passes < full.statistics.passes, "passes that could export nothing are skipped: \(two.statistics.passes) of \(full.statistics.passes)")
        #expect(two.statistics.packetsRead == UInt64(packets.count) && two.statistics.packetsRun == UInt64(packets.count))
    }

    @Test func everyLinkTypeGivesTheSameFlows() throws {
        let files = try ScratchFiles()
        let conversation = craftedConversation()
        let v4 = conversation.filter { $0.1[12] == 0x08 }
        let v6 = conversation.filter { $0.1[12] == 0x86 }
        let reference = try replay([try files.pcap("eth4.pcap", v4), try files.pcap("eth6.pcap", v6)], idle: 10, active: 10)
        #expect(reference.flows.count == 7)
        var variants: [(String, [String])] = []
        for (name, type) in [("raw", CaptureLinkType.raw), ("raw12", .rawBSD), ("raw14", .rawOpenBSD), ("sll", .linuxSLL),
                             ("sll2", .linuxSLL2), ("null", .null), ("loop", .loop), ("slip", .slip), ("ppp", .ppp),
                             ("ppphdlc", .pppHDLC), ("chdlc", .ciscoHDLC), ("fr", .frameRelay), ("atm", .atmRFC1483),
                             ("clip", .atmCLIP), ("wlan", .ieee80211), ("radiotap", .radiotap), ("arcnet", .arcnetLinux),
                             ("ipoib", .ipOverInfiniBand)] {
            variants.append((name, [try files.pcap("\(name)4.pcap", v4, linkType: type), try files.pcap("\(name)6.pcap", v6, linkType: type)]))
        }
        variants.append(("ipv4+ipv6", [try files.pcap("l228.pcap", v4, linkType: .ipv4), try files.pcap("l229.pcap", v6, linkType: .ipv6)]))
        variants.append(("null, other byte order, FreeBSD AF_INET6", [
            try files.pcap("nullbe4.pcap", v4, linkType: .null, bigEndianFamily: true),
            try files.pcap("nullbe6.pcap", v6, linkType: .null, family6: 28, bigEndianFamily: true)]))
        variants.append(("big-endian µs pcap", [try files.pcap("be4.pcap", v4, nanosecond: false, bigEndian: true),
                                                 try files.pcap("be6.pcap", v6, nanosecond: false, bigEndian: true)]))
        // one pcapng, three interfaces of different link layers, packets spread over them
        let ng = PcapngWriter()
        let kinds: [CaptureLinkType] = [.ethernet, .linuxSLL2, .raw]
        for (i, kind) in kinds.enumerated() { ng.interface(linkType: kind, tsresol: i == 2 ? 9 : 6) }
        for (i, (t, frame)) in v4.enumerated() {
            let interface = i % 3
            ng.enhancedPacket(interface: interface, timestampNs: t, relink(frame, to: kinds[interface]))
        }
        ng.section(bigEndian: true)
        ng.interface(linkType: .loop, tsresol: 9)
        for (t, frame) in v6 { ng.enhancedPacket(interface: 0, timestampNs: t, relink(frame, to: .loop)) }
        variants.append(("pcapng", [try files.raw("mixed.pcapng", ng.bytes)]))

        for (name, paths) in variants {
            let r = try replay(paths, idle: 10, active: 10)
            #expect(r.flows == reference.flows, "\(name)")
            #expect(r.statistics.packetsRun == 48 && r.statistics.failedFiles.isEmpty, "\(name)")
        }
    }

    @Test func damagedUnsupportedAndMissingFilesKeepEveryFlowReadBeforeTheDamage() throws {
        let files = try ScratchFiles()
        let a = Packet.ethernet().ipv4(src: "198.18.1.1", dst: "198.18.1.2").udp(sport: 1, dport: 2, payload: [1, 2, 3])
        let b = Packet.ethernet().ipv4(src: "198.18.2.1", dst: "198.18.2.2").udp(sport: 3, dport: 4, payload: [1, 2, 3])
        let c = Packet.ethernet().ipv4(src: "198.18.3.1", dst: "198.18.3.2").udp(sport: 5, dport: 6, payload: [1, 2, 3])
        let good1 = try files.pcap("1.pcap", (0..<3).map { (T0 + UInt64($0) * msec, a.bytes()) })
        // five packets of b, the file cut inside the fourth record
        let whole = try files.pcap("whole.pcap", (0..<5).map { (T0 + sec + UInt64($0) * msec, b.bytes()) })
        let wholeBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: whole)))
        let record = 16 + b.bytes().count
        let cut = try files.raw("2.pcap", Array(wholeBytes[..<(24 + 3 * record + 20)]))
        let wpan = PcapWriter(linkType: CaptureLinkType(rawValue: 195))
        try wpan.append([0x41, 0xC8, 0, 0xFF, 0xFF], timestampNs: T0)
        let foreign = try files.raw("3.pcap", wpan.bytes)
        let good4 = try files.pcap("4.pcap", (0..<2).map { (T0 + 2 * sec + UInt64($0) * msec, c.bytes()) })
        let missing = files.path("5.pcap")

        let r = try replay([good1, cut, foreign, good4, missing])
        #expect(r.flows.map { r.value("packets", $0.forward) } == [3, 3, 2])
        #expect(r.flows.map(\.forward.key.sport) == [1, 3, 5])
        let s = r.statistics
        #expect(s.files.map(\.packets) == [3, 3, 0, 2, 0])
        #expect(s.files[0].error == nil && s.files[3].error == nil)
        #expect(s.files[1].error == "\(cut): damaged capture at byte \(24 + 3 * record): the file ends inside packet 4 (4 of \(b.bytes().count) captured bytes)")
        #expect(s.files[2].error?.hasPrefix("\(foreign): link type 195 (IEEE 802.15.4) is not supported") == true)
        #expect(s.files[4].error == "\(missing): cannot read: No such file or directory")
        #expect(s.failedFiles.count == 3)
        #expect(s.packetsRead == 8 && s.packetsRun == 8)
    }

    @Test func framesTheKernelWouldRefuseAreCountedNotRun() throws {
        let files = try ScratchFiles()
        let udp = Packet.ethernet().ipv4().udp(sport: 7, dport: 8, payload: [UInt8](repeating: 9, count: 8960))
        var packets: [(UInt64, [UInt8])] = []
        packets.append((T0, Array(udp.bytes()[..<33])))            // IPv4 with 19 header bytes: the kernel says EINVAL
        packets.append((T0 + 1, Array(Packet.ethernet().ipv6().udp(sport: 1, dport: 2).bytes()[..<53])))
        packets.append((T0 + 2, Array(udp.bytes()[..<10])))        // not even an Ethernet header
        packets.append((T0 + 3, Packet.ethernet().ethernetPayload(etherType: 0x0806, [UInt8](repeating: 0, count: 28)).bytes())) // ARP: run
        packets.append((T0 + 4, udp.bytes()))                      // a 9002-byte jumbo frame: run cut short, counted in full
        packets.append((T0 + 5, Array(udp.bytes()[..<60])))        // snapshot length 60: counted in full too
        let eth = try files.pcap("eth.pcap", packets)
        let raw = PcapWriter(linkType: .raw)
        try raw.append([0x55, 1, 2, 3], timestampNs: T0 + 6)      // IP version 5
        try raw.append([], timestampNs: T0 + 7)                   // nothing captured
        let sll = PcapWriter(linkType: .linuxSLL)
        try sll.append([0, 0, 3, 0x38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 1, 2, 3, 4], timestampNs: T0 + 8) // netlink
        let r = try replay([eth, try files.raw("raw.pcap", raw.bytes), try files.raw("sll.pcap", sll.bytes)], features: "")
        let s = r.statistics
        #expect(s.packetsRead == 9)
        #expect(s.truncated == 4)           // 33-byte IPv4, 53-byte IPv6, 10-byte frame, empty raw packet
        #expect(s.notIP == 2)               // version 5, netlink
        #expect(s.packetsRun == 3 && s.refused == 0)
        #expect(s.clipped == 1)
        #expect(s.kernelCounters[.notIP] == 1)
        #expect(r.flows.count == 1)
        #expect(r.value("packets", r.flows.first?.forward) == 2)
        #expect(r.value("bytes", r.flows.first?.forward) == 2 * (8960 + 28))
    }
}

