import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// Writes every exported flow as the JSON lines `flowgen replay` prints (all fields, in order).
final class JSONLinesCollector: FlowExporter, @unchecked Sendable {
    let formatter: FlowFormatter
    var text = ""
    init(plan: Plan) { formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .json) }
    func export(_ flows: [Biflow]) throws { text += formatter.format(flows, epochOffsetNs: 0) }
    func close() throws {}
}

/// One replay's output and statistics, as compared between the engines.
struct EngineOutcome: Equatable {
    /// JSON lines, FLOW_ID included.
    let json: String
    /// Everything in the statistics but wall time and thread count.
    let statistics: String

    var flowCount: Int { json.split(separator: "\n").count }

    init(json: String, statistics s: ReplayStatistics) {
        self.json = json
        let counters = KernelCounter.allCases.map { "counter.\($0.jsonName)=\(s.kernelCounters[$0] ?? 0)" }.joined(separator: " ")
        self.statistics = "read=\(s.packetsRead) run=\(s.packetsRun) notIP=\(s.notIP) truncated=\(s.truncated) refused=\(s.refused) "
            + "clipped=\(s.clipped) flows=\(s.flowsExported) passes=\(s.passes) files=\(s.files) \(counters)"
    }
}

/// The two engines side by side on the same input.
enum EngineComparison {
    static let resources = Result { try ResourceLocator.locate() }

    static func plan(_ features: String, maxFlows: Int) throws -> Plan {
        try FeatureCatalog(resources: resources.get()).plan(features: features, maxFlows: maxFlows)
    }

    /// Replays `files` through `program` into JSON lines.
    static func replay(_ files: [String], program: ReplayProgram, idle: Double, active: Double, workers: Int = 2) throws -> EngineOutcome {
        let out = JSONLinesCollector(plan: program.plan)
        let policy = ExpiryPolicy(idleTimeoutNs: UInt64(idle * 1e9), activeTimeoutNs: UInt64(active * 1e9))
        let replay = try CaptureReplay(program: program, exporter: out, options: ReplayOptions(policy: policy, workers: workers))
        let statistics = try replay.run(files: files)
        return EngineOutcome(json: out.text, statistics: statistics)
    }

    /// The kernel program (split into stages when the verifier wants it), needs root.
    static func kernel(_ features: String, maxFlows: Int) throws -> LoadedMonitor {
        try ProgramHarness(features: features, maxFlows: maxFlows).monitor
    }

    /// The native build of `plan` (one program unless the plan says otherwise).
    static func native(_ plan: Plan) throws -> NativeMonitor {
        try NativeMonitor(plan: plan, resources: resources.get(), compiler: ClangCompiler())
    }

    /// Kernel and native replays of `files`; the native one also with the kernel's stage split
    /// when there is one (tail calls as calls). Returns the kernel's outcome and the kernel plan.
    /// `kernelThreads` 1 runs the kernel's packets in capture order, as the native engine does.
    @discardableResult
    static func expectSame(_ files: [String], features: String, maxFlows: Int = 4096, idle: Double = 60, active: Double = 1800,
                           kernelThreads: Int = 2, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (EngineOutcome, Plan) {
        let kernelMonitor = try kernel(features, maxFlows: maxFlows)
        let kernel = try replay(files, program: .kernel(kernelMonitor), idle: idle, active: active, workers: kernelThreads)
        let native = try replay(files, program: .native(try self.native(plan(features, maxFlows: maxFlows))), idle: idle, active: active)
        expectEqual(kernel, native, "\(what) [\(features)] kernel vs native", sourceLocation: sourceLocation)
        if kernelMonitor.plan.stages.count > 1 {
            let split = try replay(files, program: .native(try self.native(kernelMonitor.plan)), idle: idle, active: active)
            expectEqual(kernel, split, "\(what) [\(features)] kernel vs native split like the kernel", sourceLocation: sourceLocation)
        }
        return (kernel, kernelMonitor.plan)
    }

    /// Equal outcomes, or the first differing line of each.
    static func expectEqual(_ a: EngineOutcome, _ b: EngineOutcome, _ what: String, sourceLocation: SourceLocation) {
        #expect(a.statistics == b.statistics, "\(what): statistics differ", sourceLocation: sourceLocation)
        guard a.json != b.json else { return }
        Issue.record("\(what): \(a.flowCount) vs \(b.flowCount) flows, \(firstDifference(a.json, b.json))", sourceLocation: sourceLocation)
    }

    /// Where two texts first differ, line by line.
    static func firstDifference(_ a: String, _ b: String) -> String {
        let x = a.split(separator: "\n").map(String.init), y = b.split(separator: "\n").map(String.init)
        var i = 0
        while i < x.count && i < y.count && x[i] == y[i] { i += 1 }
        return "first difference at line \(i + 1):\n\(i < x.count ? x[i] : "(none)")\n\(i < y.count ? y[i] : "(none)")"
    }
}

/// A DNS message: header, one question for `name` (type A), `answers` in the header only.
func dnsMessage(id: UInt16, response: Bool, name: String, answers: UInt16 = 0, rcode: UInt8 = 0) -> [UInt8] {
    var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), response ? 0x81 : 0x01, response ? 0x80 | rcode : 0, 0, 1, UInt8(answers >> 8), UInt8(answers & 0xff), 0, 0, 0, 0]
    for label in name.split(separator: ".") { m += [UInt8(label.utf8.count)] + Array(label.utf8) }
    return m + [0, 0, 1, 0, 1]
}

/// Every kind of frame the parser and the features treat differently, over 40 s of capture time:
/// IPv4/IPv6 TCP (options, retransmission, reordering, FIN/RST), UDP, DNS over UDP and TCP,
/// ICMP/ICMPv6 (paired and not), VLAN (one tag, QinQ, too many), IPv6 extension headers (walked,
/// fragments, AH, a chain too long), IPv4 fragments, other protocols, and truncated or malformed
/// frames of each layer.
func craftedEngineCapture() -> [(UInt64, [UInt8])] {
    var p: [(UInt64, [UInt8])] = []
    func at(_ ms: UInt64, _ frame: PacketBuilder) { p.append((T0 + ms * msec, frame.bytes())) }
    func raw(_ ms: UInt64, _ bytes: [UInt8]) { p.append((T0 + ms * msec, bytes)) }
    let payload = (0..<600).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 13) }
    let text = Array("GET /index.html HTTP/1.1\r\nHost: example.test\r\n\r\n".utf8)

    // IPv4 TCP: handshake with options, data with timestamps, a retransmission, a hole filled late and soon, FIN both ways
    let c = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2", ttl: 64, tos: 0x10, flags: [.dontFragment])
    let s = Packet.ethernet(src: "02:00:00:00:00:02", dst: "02:00:00:00:00:01").ipv4(src: "198.18.0.2", dst: "198.18.0.1", ttl: 57)
    at(1_000, c.tcp(sport: 40000, dport: 80, seq: 1000, flags: [.syn], window: 64240,
                    options: [.maximumSegmentSize(1460), .sackPermitted, .timestamp(value: 100, echoReply: 0), .noOperation, .windowScale(7)]))
    at(1_012, s.tcp(sport: 80, dport: 40000, seq: 5000, ack: 1001, flags: [.syn, .ack], window: 65160,
                    options: [.maximumSegmentSize(1400), .sackPermitted, .timestamp(value: 900, echoReply: 100), .noOperation, .windowScale(6)]))
    at(1_020, c.tcp(sport: 40000, dport: 80, seq: 1001, ack: 5001, flags: [.ack], window: 502,
                    options: [.noOperation, .noOperation, .timestamp(value: 101, echoReply: 900)]))
    at(1_021, c.tcp(sport: 40000, dport: 80, seq: 1001, ack: 5001, flags: [.psh, .ack], window: 502,
                    options: [.noOperation, .noOperation, .timestamp(value: 102, echoReply: 900)], payload: text))
    at(1_040, s.tcp(sport: 80, dport: 40000, seq: 5001, ack: 1001 + UInt32(text.count), flags: [.ack], window: 509,
                    options: [.noOperation, .noOperation, .timestamp(value: 903, echoReply: 102)], payload: Array(payload[0..<500])))
    // a hole: 5501..<6001 skipped, 6001 arrives, then the hole is filled 1 ms later (reordering) and again 50 ms later (retransmission)
    at(1_041, s.tcp(sport: 80, dport: 40000, seq: 6001, ack: 1001 + UInt32(text.count), flags: [.ack], window: 509, payload: Array(payload[0..<300])))
    at(1_042, s.tcp(sport: 80, dport: 40000, seq: 5501, ack: 1001 + UInt32(text.count), flags: [.ack], window: 509, payload: Array(payload[0..<500])))
    at(1_092, s.tcp(sport: 80, dport: 40000, seq: 5501, ack: 1001 + UInt32(text.count), flags: [.ack], window: 509, payload: Array(payload[0..<500])))
    at(1_100, c.tcp(sport: 40000, dport: 80, seq: 1001 + UInt32(text.count), ack: 6301, flags: [.ack], window: 500,
                    options: [.noOperation, .noOperation, .raw([5, 10, 0, 0, 0x17, 0x71, 0, 0, 0x19, 0x65])]))
    at(1_101, c.tcp(sport: 40000, dport: 80, seq: 1000 + UInt32(text.count), ack: 6301, flags: [.ack], window: 500)) // keep-alive
    at(1_200, c.tcp(sport: 40000, dport: 80, seq: 1001 + UInt32(text.count), ack: 6301, flags: [.fin, .ack], window: 500))
    at(1_210, s.tcp(sport: 80, dport: 40000, seq: 6301, ack: 1002 + UInt32(text.count), flags: [.fin, .ack], window: 509))
    at(1_220, c.tcp(sport: 40000, dport: 80, seq: 1002 + UInt32(text.count), ack: 6302, flags: [.ack], window: 500))
    // a reset conversation with odd options (unknown kind, bad length) and a zero window
    at(2_000, c.tcp(sport: 40001, dport: 443, seq: 77, flags: [.syn], window: 0, options: [.raw([30, 4, 1, 2]), .raw([2, 9, 0, 0])]))
    at(2_001, s.tcp(sport: 443, dport: 40001, seq: 0, ack: 78, flags: [.rst, .ack], window: 0))

    // IPv6 TCP with timestamps both ways (RTT), traffic class and flow label
    let c6 = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2", trafficClass: 0x28, flowLabel: 0x12345, hopLimit: 60)
    let s6 = Packet.ethernet().ipv6(src: "fd00::2", dst: "fd00::1", flowLabel: 0xABCDE, hopLimit: 250)
    for k in UInt64(0)..<6 {
        at(3_000 + 20 * k, c6.tcp(sport: 50000, dport: 22, seq: 10 + UInt32(k) * 100, ack: 1, flags: k == 0 ? [.syn] : [.psh, .ack],
                                  options: [.timestamp(value: 1000 + UInt32(k), echoReply: k == 0 ? 0 : 2000 + UInt32(k) - 1)],
                                  payload: k == 0 ? [] : Array(payload[0..<100])))
        at(3_007 + 20 * k, s6.tcp(sport: 22, dport: 50000, seq: 1, ack: 10 + UInt32(k) * 100 + 1, flags: k == 0 ? [.syn, .ack] : [.ack],
                                  options: [.timestamp(value: 2000 + UInt32(k), echoReply: 1000 + UInt32(k))]))
    }

    // DNS over UDP (IPv4 and IPv6, a query and its response: latency) and over TCP
    let q = dnsMessage(id: 0x1234, response: false, name: "www.Example.test")
    let r = dnsMessage(id: 0x1234, response: true, name: "www.example.test", answers: 2)
    at(4_000, Packet.ethernet().ipv4(src: "198.18.0.3", dst: "198.18.0.53").udp(sport: 5353, dport: 53, payload: q))
    at(4_003, Packet.ethernet().ipv4(src: "198.18.0.53", dst: "198.18.0.3").udp(sport: 53, dport: 5353, payload: r))
    at(4_010, Packet.ethernet().ipv6(src: "fd00::3", dst: "fd00::53").udp(sport: 5354, dport: 53, payload: dnsMessage(id: 9, response: false, name: "a.b.c")))
    at(4_019, Packet.ethernet().ipv6(src: "fd00::53", dst: "fd00::3").udp(sport: 53, dport: 5354, payload: dnsMessage(id: 9, response: true, name: "a.b.c", rcode: 3)))
    at(4_020, Packet.ethernet().ipv4(src: "198.18.0.3", dst: "198.18.0.53").udp(sport: 5355, dport: 53, payload: [3, 0x77, 0x77] + [0xC0, 0x0C])) // cut short
    let tq = [UInt8(0), UInt8(q.count)] + q
    at(4_030, Packet.ethernet().ipv4(src: "198.18.0.3", dst: "198.18.0.53").tcp(sport: 41000, dport: 53, flags: [.psh, .ack], payload: tq))
    at(4_031, Packet.ethernet().ipv4(src: "198.18.0.53", dst: "198.18.0.3").tcp(sport: 53, dport: 41000, flags: [.psh, .ack], payload: [0, UInt8(r.count)] + r))

    // ICMP: echo request/reply (paired), timestamp, an unreachable carrying a datagram; ICMPv6 echo and neighbour discovery
    for k in UInt64(0)..<3 {
        at(5_000 + 1_000 * k, Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.7").icmpv4(type: 8, identifier: 77, sequence: UInt16(k), payload: Array(payload[0..<56])))
        at(5_001 + 1_000 * k, Packet.ethernet().ipv4(src: "198.18.0.7", dst: "198.18.0.1", ttl: 1).icmpv4(type: 0, identifier: 77, sequence: UInt16(k), payload: Array(payload[0..<56])))
    }
    at(5_100, Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.7").icmpv4(type: 13, identifier: 5))
    at(5_101, Packet.ethernet().ipv4(src: "198.18.0.7", dst: "198.18.0.1").icmpv4(type: 14, identifier: 5))
    at(5_200, Packet.ethernet().ipv4(src: "198.18.0.9", dst: "198.18.0.1", ttl: 0).icmpv4(type: 3, code: 3, payload: Array(payload[0..<28])))
    at(5_300, Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::7").icmpv6(type: 128, identifier: 9, sequence: 1, payload: Array(payload[0..<32])))
    at(5_301, Packet.ethernet().ipv6(src: "fd00::7", dst: "fd00::1").icmpv6(type: 129, identifier: 9, sequence: 1, payload: Array(payload[0..<32])))
    at(5_400, Packet.ethernet().ipv6(src: "fd00::1", dst: "ff02::1:ff00:7", hopLimit: 255).icmpv6(type: 135, payload: [UInt8](repeating: 0, count: 20)))
    at(5_500, Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.7").icmpv4(type: 8, identifier: 78).truncated(to: 14 + 20 + 3)) // ICMP cut

    // VLAN: one tag, QinQ, four tags (the most skipped), five (too deep)
    at(6_000, Packet.ethernet().vlan(100).ipv4(src: "198.18.1.1", dst: "198.18.1.2").udp(sport: 1000, dport: 2000, payload: Array(payload[0..<64])))
    at(6_001, Packet.ethernet().qinq(outer: 10, inner: 20).ipv6(src: "fd00::10", dst: "fd00::20").udp(sport: 1000, dport: 2000, payload: Array(payload[0..<64])))
    at(6_002, Packet.ethernet().vlan(1).vlan(2).vlan(3).vlan(4).ipv4(src: "198.18.1.3", dst: "198.18.1.4").tcp(sport: 3, dport: 4, flags: [.syn]))
    at(6_003, Packet.ethernet().vlan(1).vlan(2).vlan(3).vlan(4).vlan(5).ipv4(src: "198.18.1.5", dst: "198.18.1.6").udp(sport: 5, dport: 6))
    at(6_004, Packet.ethernet().vlan(7).ipv4(src: "198.18.1.7", dst: "198.18.1.8").udp(sport: 7, dport: 8).truncated(to: 14 + 4 + 10))

    // IPv6 extension headers: walked to UDP/TCP, a first and a later fragment, AH, a chain too long, one cut short
    let e6 = Packet.ethernet()
    at(7_000, e6.ipv6(src: "fd00::30", dst: "fd00::31", extensionHeaders: [.hopByHop(options: []), .destinationOptions(options: [1, 2, 0, 0]),
                                                                           .routing(type: 0, segmentsLeft: 0, data: [0, 0, 0, 0])])
        .udp(sport: 3000, dport: 3001, payload: Array(payload[0..<40])))
    at(7_001, e6.ipv6(src: "fd00::30", dst: "fd00::31", extensionHeaders: [.fragment(offset: 0, moreFragments: true, identification: 7)])
        .udp(sport: 3000, dport: 3001, payload: Array(payload[0..<200])))
    at(7_002, e6.ipv6(src: "fd00::30", dst: "fd00::31", extensionHeaders: [.fragment(offset: 26, moreFragments: false, identification: 7)])
        .udp(sport: 9, dport: 9, payload: Array(payload[0..<100])))
    at(7_003, e6.ipv6(src: "fd00::30", dst: "fd00::32", extensionHeaders: [.authentication(spi: 1, sequence: 2, icv: [1, 2, 3, 4, 5, 6, 7, 8])])
        .tcp(sport: 3002, dport: 3003, flags: [.syn]))
    at(7_004, e6.ipv6(src: "fd00::30", dst: "fd00::33", extensionHeaders: Array(repeating: .destinationOptions(options: []), count: 9))
        .udp(sport: 1, dport: 2))
    at(7_005, e6.ipv6(src: "fd00::30", dst: "fd00::34", extensionHeaders: [.hopByHop(options: [UInt8](repeating: 1, count: 30))])
        .udp(sport: 1, dport: 2).truncated(to: 14 + 40 + 12))
    at(7_006, e6.ipv6(src: "fd00::30", dst: "fd00::35").ipPayload(protocol: 59, [])) // no next header

    // IPv4 fragments: the first (ports) and a later one (keyed without ports), options in the header
    at(8_000, Packet.ethernet().ipv4(src: "198.18.2.1", dst: "198.18.2.2", id: 99, flags: [.moreFragments]).udp(sport: 4000, dport: 4001, payload: Array(payload[0..<400])))
    at(8_001, Packet.ethernet().ipv4(src: "198.18.2.1", dst: "198.18.2.2", id: 99, fragmentOffset: 51, protocol: 17).ipPayload(protocol: 17, Array(payload[0..<100])))
    at(8_002, Packet.ethernet().ipv4(src: "198.18.2.1", dst: "198.18.2.3", options: [1, 1, 1, 0]).udp(sport: 4002, dport: 4003, payload: [1]))

    // other transports: GRE, SCTP, UDP-Lite, ESP
    at(9_000, Packet.ethernet().ipv4(src: "198.18.3.1", dst: "198.18.3.2").ipPayload(protocol: 47, [0, 0, 0x08, 0] + Array(payload[0..<60])))
    at(9_001, Packet.ethernet().ipv4(src: "198.18.3.1", dst: "198.18.3.2").ipPayload(protocol: 132, [0x0b, 0xb8, 0x0b, 0xb9] + Array(payload[0..<28])))
    at(9_002, Packet.ethernet().ipv6(src: "fd00::40", dst: "fd00::41").ipPayload(protocol: 136, [0x13, 0x88, 0x13, 0x89, 0, 8, 0, 0] + Array(payload[0..<20])))
    at(9_003, Packet.ethernet().ipv4(src: "198.18.3.1", dst: "198.18.3.3").ipPayload(protocol: 50, Array(payload[0..<64])))
    at(9_004, Packet.ethernet().ipv4(src: "198.18.3.1", dst: "198.18.3.2").ipPayload(protocol: 132, [0x0b])) // SCTP cut

    // malformed: IHL 4, total length below the header, version 6 in an IPv4 frame, TCP data offset 3,
    // a TCP header cut short, IPv6 version 4, ARP, an 802.3 length field, a jumbo frame, frames the kernel refuses
    at(10_000, Packet.ethernet().ipv4(src: "198.18.4.1", dst: "198.18.4.2", ihl: 4).udp(sport: 1, dport: 2, payload: [1, 2, 3, 4]))
    at(10_001, Packet.ethernet().ipv4(src: "198.18.4.1", dst: "198.18.4.2", totalLength: 12).udp(sport: 1, dport: 2, payload: [1, 2, 3, 4]))
    at(10_002, Packet.ethernet().ipv4(src: "198.18.4.1", dst: "198.18.4.2", version: 6).udp(sport: 1, dport: 2, payload: [1, 2, 3, 4]))
    at(10_003, Packet.ethernet().ipv4(src: "198.18.4.1", dst: "198.18.4.2").tcp(sport: 1, dport: 2, dataOffset: 3, payload: [1, 2, 3, 4]))
    at(10_004, Packet.ethernet().ipv4(src: "198.18.4.1", dst: "198.18.4.2").tcp(sport: 1, dport: 2).truncated(to: 14 + 20 + 10))
    at(10_005, Packet.ethernet().ipv6(src: "fd00::50", dst: "fd00::51", version: 4).udp(sport: 1, dport: 2))
    at(10_006, Packet.ethernet().ethernetPayload(etherType: 0x0806, [UInt8](repeating: 0, count: 28)))
    at(10_007, Packet.ethernet().ethernetPayload(etherType: 0x0030, [UInt8](repeating: 0xAA, count: 48)))
    at(10_008, Packet.ethernet().ipv4(src: "198.18.4.3", dst: "198.18.4.4").udp(sport: 9000, dport: 9001, payload: [UInt8](repeating: 0x5A, count: 8960)))
    at(10_009, Packet.ethernet().ipv6(src: "fd00::60", dst: "fd00::61").tcp(sport: 7000, dport: 7001, flags: [.psh, .ack], payload: [UInt8](repeating: 0x20, count: 5000)))
    raw(10_010, Array(Packet.ethernet().ipv4().udp(sport: 1, dport: 2).bytes()[..<30]))   // IPv4 below the kernel's minimum
    raw(10_011, Array(Packet.ethernet().ipv6().udp(sport: 1, dport: 2).bytes()[..<50]))   // IPv6 below it
    raw(10_012, [0, 1, 2, 3, 4, 5, 6])                                                      // not even an Ethernet header
    raw(10_013, Packet.ethernet().ipv4(src: "198.18.4.5", dst: "198.18.4.6").udp(sport: 1, dport: 2, payload: [1]).bytes() + [UInt8](repeating: 0xEE, count: 30)) // trailer

    // steady UDP flows that outlive the active timeout and end idle, from 0 to 40 s, with growing
    // TTL and sizes (histograms) and a payload mix (printable, zeros, high bytes)
    for k in UInt64(0)..<40 {
        let size = Int(k * 37 % 1400)
        let body = (0..<size).map { i -> UInt8 in k % 3 == 0 ? UInt8(32 + i % 90) : (k % 3 == 1 ? 0 : UInt8(truncatingIfNeeded: 128 + i)) }
        at(k * 1_000 + 500, Packet.ethernet().ipv4(src: "198.18.5.1", dst: "198.18.5.2", ttl: UInt8(k * 6 + 1)).udp(sport: 123, dport: 123, payload: body))
        if k % 7 == 0 {
            at(k * 1_000 + 600, Packet.ethernet().ipv6(src: "fd00::70", dst: "fd00::71", hopLimit: UInt8(255 - k)).udp(sport: 6000 + UInt16(k), dport: 7000, payload: body))
        }
    }
    return p.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element)
}

/// The native engine against the kernel engine: the same JSON lines (every field, FLOW_ID and
/// order included) and the same statistics and counters, on crafted and real captures, for the
/// base set, the reference's metrics (seed) and every module (all, which the kernel splits into
/// tail-called stages; the native build then runs both as one program and split the same way).
@Suite(.serialized) struct NativeReplayTests {
    static let featureSets = ["", "seed", "all"]

    /// The tcpdump captures the kernel and native engines are compared on, one replay each.
    static let corpusCaptures = [
        "ssh.pcap", "tcp-handshake-nano.pcap", "dns_udp.pcap", "dns_tcp.pcap", "ntp.pcap", "icmpv6.pcap", "tcp_rst_data.pcap",
        "LINKTYPE_RAW_ipv6.pcap", "ipv6-routing-header.pcap", "802.1ad_QinQ.pcap", "bigtcp-ipv4.pcap", "dns-badlabel.pcap",
        "afs.pcap", "isakmp4500.pcap", "ipv4_tcp_http_xml_tso.pcap", "mptcp-v1.pcap",
    ]

    @Test(arguments: featureSets) func craftedCaptureGivesTheSameFlowsOnBothEngines(features: String) throws {
        try requireRoot()
        let files = try ScratchFiles()
        let capture = craftedEngineCapture()
        let path = try files.pcap("crafted.pcap", capture)
        let (kernel, plan) = try EngineComparison.expectSame([path], features: features, idle: 10, active: 20, "crafted capture")
        // the capture exercises what it claims to
        #expect(kernel.flowCount > 30, "\(kernel.flowCount) flows")
        for counter in ["not_ip", "truncated", "bad_ipv4_header", "bad_tcp_header", "vlan_too_deep", "ipv6_ext_chain_too_long", "fragments"] {
            #expect(!kernel.statistics.contains("counter.\(counter)=0"), "\(counter) never counted: \(kernel.statistics)")
        }
        #expect(kernel.statistics.contains("clipped=2") && kernel.statistics.contains("truncated=3 "), "\(kernel.statistics)")
        // FIN/RST end flows only when the tcp module keeps the flags
        for reason in ["idle timeout", "active timeout", "end of capture"] + (features.isEmpty ? [] : ["end of flow"]) {
            #expect(kernel.json.contains("\"FLOW_END_REASON\":\"\(reason)\""), "no flow ended by \(reason)")
        }
        if features == "all" {
            #expect(plan.stages.count > 1, "the kernel ran every module as one program: the split is not compared")
            for field in ["\"TCP_RTT_SAMPLES_IN\":1", "\"DNS_LATENCY_SAMPLES_OUT\":1", "\"RETRANSMITTED_OUT_PKTS\":1", "\"OOORDER_OUT_PKTS\":1"] {
                #expect(kernel.json.contains(field), "\(field) never seen")
            }
        }
    }

    @Test(arguments: featureSets) func aFullTableCountsTheSameNewFlowsOnBothEngines(features: String) throws {
        try requireRoot()
        // 60 flows through a 16-entry table: inserts fail, passes free room, flows continue. Which
        // new flow gets a freed slot depends on packet order, so the kernel runs on one thread
        // too: with two, the threads race for the last slots and the kernel's own result varies.
        var packets: [(UInt64, [UInt8])] = []
        for k in UInt64(0)..<240 {
            let flow = k % 60
            packets.append((T0 + k * 100 * msec, Packet.ethernet().ipv4(src: PacketBuilder.IPv4Address([198, 18, 9, UInt8(flow)]), dst: "198.18.9.200")
                .udp(sport: UInt16(1000 + flow), dport: 53, payload: [UInt8](repeating: UInt8(flow), count: Int(flow))).bytes()))
        }
        let files = try ScratchFiles()
        let path = try files.pcap("full.pcap", packets)
        let (kernel, _) = try EngineComparison.expectSame([path], features: features, maxFlows: 16, idle: 1, active: 5, kernelThreads: 1, "full table")
        #expect(!kernel.statistics.contains("counter.table_full=0"), "\(kernel.statistics)")
    }

    @Test(arguments: featureSets) func realCapturesGiveTheSameFlowsOnBothEngines(features: String) throws {
        try requireRoot()
        let paths = Self.corpusCaptures.map { ReplayCorpusTests.corpus + "/" + $0 }
        let present = paths.filter { FileManager.default.fileExists(atPath: $0) }
        try #require(present.count == paths.count, "the capture corpus is missing at \(ReplayCorpusTests.corpus)")
        var flows = 0
        for path in present {
            let (kernel, _) = try EngineComparison.expectSame([path], features: features, idle: 10, active: 60, (path as NSString).lastPathComponent)
            flows += kernel.flowCount
        }
        #expect(flows > 40)
    }

    @Test(arguments: featureSets) func theWholeCorpusGivesTheSameOutputOnBothEnginesFromTheCommandLine(features: String) throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let names = try FileManager.default.contentsOfDirectory(atPath: ReplayCorpusTests.corpus).sorted()
        try #require(names.count >= 800, "the capture corpus is missing at \(ReplayCorpusTests.corpus)")
        let work = NSTemporaryDirectory() + "fgengines-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var total = 0
        // batches of 100 files, each one capture (flows continue from file to file)
        for start in stride(from: 0, to: names.count, by: 100) {
            let batch = names[start..<min(start + 100, names.count)].map { ReplayCorpusTests.corpus + "/" + $0 }
            var outputs: [String: (stdout: String, stats: String)] = [:]
            for engine in ["kernel", "native"] {
                let stats = "\(work)/\(engine).json"
                let r = try ProcessRunner.run([flowgen, "replay", "-q", "--engine", engine, "--features", features, "--stats-json", stats] + batch,
                                              timeout: .seconds(300))
                #expect(r.status == 0 || r.status == 1, "\(engine): \(r.stderr.suffix(500))")
                // every statistic but time and threads
                let json = (try? String(contentsOfFile: stats, encoding: .utf8)) ?? ""
                let kept = json.split(separator: "\n").filter { !["duration_seconds", "packets_per_second", "\"workers\""].contains(where: $0.contains) }
                outputs[engine] = (r.stdout, kept.joined(separator: "\n"))
            }
            let k = outputs["kernel"]!, n = outputs["native"]!
            #expect(!k.stats.isEmpty && k.stats == n.stats, "files \(start + 1)-\(start + batch.count) [\(features)]: statistics differ")
            if k.stdout != n.stdout {
                Issue.record("files \(start + 1)-\(start + batch.count) [\(features)]: \(EngineComparison.firstDifference(k.stdout, n.stdout))")
            }
            total += k.stdout.split(separator: "\n").count
        }
        #expect(total > 500)
    }
}
