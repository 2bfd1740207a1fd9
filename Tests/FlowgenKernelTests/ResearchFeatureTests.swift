import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

/// FNV-1a over the lower-cased labels, each followed by '.', as Features/dns computes it.
func dnsNameHash(_ name: String) -> UInt32 {
    var h: UInt32 = 2_166_136_261
    for label in name.lowercased().split(separator: ".") {
        for b in label.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        h = (h ^ UInt32(UInt8(ascii: "."))) &* 16_777_619
    }
    return h
}

/// A DNS message: header, one question, no records.
func dnsMessage(id: UInt16, response: Bool, rcode: UInt8 = 0, answers: UInt16 = 0, name: String, type: UInt16) -> [UInt8] {
    var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), response ? 0x81 : 0x01, response ? 0x80 | rcode : 0,
                      0, 1, UInt8(answers >> 8), UInt8(answers & 0xff), 0, 0, 0, 0]
    for label in name.split(separator: ".") {
        m.append(UInt8(label.utf8.count))
        m += Array(label.utf8)
    }
    m += [0, UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
    return m
}

/// The heavy research modules (payload, dns, tcp_options): exact values, and the `all` set that
/// only loads split into tail-called stages.
@Suite(.serialized) struct ResearchFeatureTests {
    @Test func payloadStatistics() throws {
        let h = try ProgramHarness(features: "payload")
        try h.send(Packet.ethernet().ipv4().udp(sport: 1, dport: 2, payload: Array("hello".utf8)))
        try h.send(Packet.ethernet().ipv4().udp(sport: 1, dport: 2, payload: (0..<16).map { UInt8($0 << 4) }))
        let k = key4("198.18.0.1", "198.18.0.2", 1, 2, 17)
        #expect(try h.value("payload_pkts", k) == 2)
        #expect(try h.value("payload_bytes_sampled", k) == 21)
        #expect(try h.value("payload_printable", k) == 5 + 6)   // 0x20...0x70 are printable
        #expect(try h.value("payload_zero", k) == 1)
        #expect(try h.value("payload_high", k) == 8)
        // "hello": one nibble value, entropy 0; 16 distinct nibbles: 4 bits = 1024 in 1/256 bits
        #expect(try h.value("payload_entropy_q8", k) == 1024)
        #expect(try h.value("payload_nibbles", k, element: 6) == 5 + 1)
        #expect(try h.value("payload_nibbles", k, element: 15) == 1)
        let c = try #require(h.decoder.firstColumn["payload_nibbles"])
        let bins = try #require(try h.records()[k]).values[c..<(c + 16)]
        #expect(bins.reduce(0, +) == 21)
    }

    @Test func dnsQueryResponseAndLatency() throws {
        let h = try ProgramHarness(features: "dns")
        let q = dnsMessage(id: 0x1234, response: false, name: "Example.COM", type: 28)
        let r = dnsMessage(id: 0x1234, response: true, rcode: 3, answers: 2, name: "example.com", type: 28)
        try h.send(Packet.ethernet().ipv4().udp(sport: 40000, dport: 53, payload: q), at: 1_000_000)
        try h.send(Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").udp(sport: 53, dport: 40000, payload: r), at: 6_000_000)
        let fwd = key4("198.18.0.1", "198.18.0.2", 40000, 53, 17), rev = key4("198.18.0.2", "198.18.0.1", 53, 40000, 17)
        #expect(try h.value("dns_queries", fwd) == 1)
        #expect(try h.value("dns_qname_hash", fwd) == UInt64(dnsNameHash("example.com")))
        #expect(try h.value("dns_qname_len", fwd) == 11)
        #expect(try h.value("dns_qname_labels", fwd) == 2)
        #expect(try h.value("dns_qtype", fwd) == 28)
        #expect(try h.value("dns_responses", rev) == 1)
        #expect(try h.value("dns_rcode", rev) == 3)
        #expect(try h.value("dns_answers", rev) == 2)
        #expect(try h.value("dns_latency_sum_ns", rev) == 5_000_000)
        #expect(try h.value("dns_latency_samples", rev) == 1)
        #expect(try h.value("dns_latency_min_ns", rev) == 5_000_000)
        #expect(try h.value("dns_queries", rev) == 0)
        // not DNS: untouched
        try h.send(Packet.ethernet().ipv4().udp(sport: 7, dport: 8, payload: q))
        #expect(try h.value("dns_queries", key4("198.18.0.1", "198.18.0.2", 7, 8, 17)) == 0)
    }

    @Test func tcpOptionsAndRTTFromTimestamps() throws {
        let h = try ProgramHarness(features: "tcp_options")
        let syn = Packet.ethernet().ipv4().tcp(sport: 4000, dport: 80, flags: [.syn], options: [
            .maximumSegmentSize(1460), .sackPermitted, .timestamp(value: 100, echoReply: 0), .noOperation, .windowScale(7)])
        let synAck = Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").tcp(sport: 80, dport: 4000, flags: [.syn, .ack], options: [
            .maximumSegmentSize(1400), .timestamp(value: 500, echoReply: 100), .raw([30, 4, 1, 2])])
        let ack = Packet.ethernet().ipv4().tcp(sport: 4000, dport: 80, flags: [.ack], options: [.noOperation, .noOperation, .timestamp(value: 101, echoReply: 500)])
        try h.send(syn, at: 10_000_000)
        try h.send(synAck, at: 12_000_000)
        try h.send(ack, at: 13_000_000)
        let c = key4("198.18.0.1", "198.18.0.2", 4000, 80, 6), s = key4("198.18.0.2", "198.18.0.1", 80, 4000, 6)
        #expect(try h.value("tcpopt_options", c) == 4 + 1)
        #expect(try h.value("tcpopt_seen", c) == 1 | 2 | 4 | 16)
        #expect(try h.value("tcpopt_mss", c) == 1460)
        #expect(try h.value("tcpopt_wscale", c) == 7)
        #expect(try h.value("tcpopt_ts_pkts", c) == 2)
        #expect(try h.value("tcpopt_mss", s) == 1400)
        #expect(try h.value("tcpopt_unknown", s) == 1)
        // SYN-ACK echoes the SYN's TSval 2 ms later; the ACK echoes the SYN-ACK's 1 ms later
        #expect(try h.value("rtt_samples", s) == 1)
        #expect(try h.value("rtt_sum_ns", s) == 2_000_000)
        #expect(try h.value("rtt_samples", c) == 1)
        #expect(try h.value("rtt_min_ns", c) == 1_000_000)
    }

    @Test func liveTimesOfTheseModulesAreNsPrecise() throws {
        // Without a module that stamps every packet precisely, first/last seen come from the coarse
        // clock, but the times dns and tcp_options keep are read from the precise one when needed.
        let dns = try ProgramHarness(features: "dns", live: true)
        let q = dnsMessage(id: 7, response: false, name: "example.com", type: 1)
        let r = dnsMessage(id: 7, response: true, name: "example.com", type: 1)
        let before = MonotonicClock.nowNs()
        try dns.send(Packet.ethernet().ipv4().udp(sport: 40000, dport: 53, payload: q))
        let between = MonotonicClock.nowNs()
        try dns.send(Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").udp(sport: 53, dport: 40000, payload: r))
        let after = MonotonicClock.nowNs()
        let fwd = key4("198.18.0.1", "198.18.0.2", 40000, 53, 17), rev = key4("198.18.0.2", "198.18.0.1", 53, 40000, 17)
        let queryTime = try #require(try dns.value("dns_query_time", fwd))
        #expect(queryTime >= before && queryTime <= between)
        let latency = try #require(try dns.value("dns_latency_sum_ns", rev))
        #expect(try dns.value("dns_latency_samples", rev) == 1)
        #expect(latency > 0 && latency <= after - before)

        let tcp = try ProgramHarness(features: "tcp_options", live: true)
        let syn = Packet.ethernet().ipv4().tcp(sport: 4000, dport: 80, flags: [.syn], options: [.timestamp(value: 100, echoReply: 0)])
        let synAck = Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").tcp(sport: 80, dport: 4000, flags: [.syn, .ack], options: [
            .timestamp(value: 500, echoReply: 100)])
        let start = MonotonicClock.nowNs()
        try tcp.send(syn)
        try tcp.send(synAck)
        let end = MonotonicClock.nowNs()
        let c = key4("198.18.0.1", "198.18.0.2", 4000, 80, 6), s = key4("198.18.0.2", "198.18.0.1", 80, 4000, 6)
        let sent = try #require(try tcp.value("ts_last_time", c))
        #expect(sent >= start && sent <= end)
        let rtt = try #require(try tcp.value("rtt_sum_ns", s))
        #expect(try tcp.value("rtt_samples", s) == 1)
        #expect(rtt > 0 && rtt <= end - start)
    }

    @Test func allFeaturesNeedStagesAndRunSplit() throws {
        try requireRoot()
        do {
            _ = try ProgramHarness(features: "all", stages: StagePolicy(maxStages: 1))
            Issue.record("--features all passed the verifier as one program")
        } catch let MonitorError.doesNotFit(reason, hint) {
            #expect(reason.contains("verifier rejected flowgen_entry"), "\(reason)")
            #expect(hint.contains("end of the verifier log"))
        }
        let h = try ProgramHarness(features: "all")
        let stages = h.monitor.plan.stages
        #expect(stages.count >= 2)
        for stage in stages { #expect((stage.verifiedInstructions ?? .max) < StagePolicy.kernelLimit) }
        let q = dnsMessage(id: 9, response: false, name: "flowgen.test", type: 1)
        try h.send(Packet.ethernet().ipv4().udp(sport: 40001, dport: 53, payload: q))
        try h.send(Packet.ethernet().ipv4().tcp(sport: 5, dport: 6, flags: [.syn], options: [.maximumSegmentSize(1000)]))
        let k = key4("198.18.0.1", "198.18.0.2", 40001, 53, 17)
        #expect(try h.value("dns_queries", k) == 1)
        #expect(try h.value("payload_pkts", k) == 1)
        #expect(try h.value("packets", k) == 1)
        #expect(try h.value("tcpopt_mss", key4("198.18.0.1", "198.18.0.2", 5, 6, 6)) == 1000)
        #expect(try h.counters()[.tailCallFailed] ?? 0 == 0)
    }
}
