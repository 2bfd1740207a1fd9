import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

/// The exported values of one conversation, as `--features seed` outputs them: both directions read
/// back from the kernel map, paired (initiator `forward`) and run through the output schema.
func exportedValues(_ h: ProgramHarness, _ forward: FlowKey, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: UInt64] {
    let records = try h.records()
    let fwd = try #require(records[forward], "no record for \(forward)", sourceLocation: sourceLocation)
    let biflow = Biflow(id: 1, forward: fwd, reverse: records[forward.reversed(icmpKeyed: true)], endReason: .forced)
    let schema = OutputSchema(plan: h.monitor.plan)
    var out: [String: UInt64] = [:]
    for (column, value) in zip(schema.columns, schema.values(of: biflow, epochOffsetNs: 0)) {
        if case let .number(n) = value { out[column.name] = n }
    }
    return out
}

/// Runs one packet with an explicit GSO context (segments and segment size).
func sendGSO(_ h: ProgramHarness, _ packet: PacketBuilder, at t: UInt64, segments: UInt32, size: UInt32) throws {
    var context = ProgramTestRun.Context(tstamp: t)
    context.gsoSegments = segments
    context.gsoSize = size
    _ = try h.runner.run(packet.bytes(), context: context)
}

/// Every seed module driven over crafted packets with BPF_PROG_TEST_RUN (replay mode, so the
/// timestamps are the test's), asserting exact record contents and exported values.
@Suite(.serialized) struct SeedFeatureTests {
    let c = "198.18.0.1", s = "198.18.0.2"

    func udp(_ src: String, _ dst: String, ipLength: Int, ttl: UInt8 = 64, tos: UInt8 = 0) -> PacketBuilder {
        Packet.ethernet().ipv4(src: .init(stringLiteral: src), dst: .init(stringLiteral: dst), ttl: ttl, tos: tos)
            .udp(sport: 5000, dport: 53, payload: [UInt8](repeating: 0, count: ipLength - 28))
    }

    @Test func ipInfoKeepsTheLatestTOSAndFlowLabelPerDirection() throws {
        let h = try ProgramHarness(features: "ip_info")
        try h.send(udp(c, s, ipLength: 100, tos: 0x10), at: 1_000)
        try h.send(udp(c, s, ipLength: 100, tos: 0xb8), at: 2_000)
        try h.send(udp(c, s, ipLength: 100, tos: 0x02).reversed(), at: 3_000)
        let v6 = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2", trafficClass: 0x2e, flowLabel: 0xabcde).udp(sport: 7, dport: 8)
        try h.send(v6, at: 4_000)
        try h.send(Packet.ethernet().ipv6(src: "fd00::2", dst: "fd00::1", trafficClass: 0, flowLabel: 0x12345).udp(sport: 8, dport: 7), at: 5_000)
        let out4 = try exportedValues(h, key4(c, s, 5000, 53, 17))
        #expect(out4["SRC_TOS"] == 0xb8 && out4["DST_TOS"] == 0x02)
        #expect(out4["SRC_FLOWLABEL"] == 0 && out4["DST_FLOWLABEL"] == 0)
        let out6 = try exportedValues(h, key6("fd00::1", "fd00::2", 7, 8, 17))
        #expect(out6["SRC_TOS"] == 0x2e && out6["SRC_FLOWLABEL"] == 0xabcde)
        #expect(out6["DST_TOS"] == 0 && out6["DST_FLOWLABEL"] == 0x12345)
    }

    @Test func jitterSumsTheInterArrivalVariation() throws {
        let h = try ProgramHarness(features: "jitter")
        // inter-arrival times 2000, 1000, 4000 ns: |1000 - 2000| + |4000 - 1000| = 4000
        for t: UInt64 in [1_000, 3_000, 4_000, 8_000] { try h.send(udp(c, s, ipLength: 60), at: t) }
        for t: UInt64 in [2_000, 5_000] { try h.send(udp(c, s, ipLength: 60).reversed(), at: t) } // one IAT: nothing to compare
        let out = try exportedValues(h, key4(c, s, 5000, 53, 17))
        #expect(out["IN_JITTER"] == 4_000)
        #expect(out["OUT_JITTER"] == 0)
        // a packet stamped earlier than the previous one (two CPUs) counts as IAT 0, never wraps
        try h.send(udp(c, s, ipLength: 60), at: 7_000)     // IAT 0 after 4000: +4000
        #expect(try h.value("jitter", key4(c, s, 5000, 53, 17)) == 8_000)
    }

    @Test func packetLengthsFillTheReferenceBinsAndSumToPackets() throws {
        let h = try ProgramHarness(features: "pkt_len")
        let lengths = [127, 128, 255, 256, 511, 512, 1023, 1024, 1513, 1514, 2000]
        for (i, len) in lengths.enumerated() { try h.send(udp(c, s, ipLength: len), at: UInt64(1_000 + i)) }
        try h.send(udp(c, s, ipLength: 60).reversed(), at: 2_000)
        let out = try exportedValues(h, key4(c, s, 5000, 53, 17))
        let bins = ["UP_TO_128", "128_TO_256", "256_TO_512", "512_TO_1024", "1024_TO_1514", "OVER_1514"]
        #expect(bins.map { out["SRC_NUM_PKTS_\($0)_BYTES"] } == [1, 2, 2, 2, 2, 2])
        #expect(bins.map { out["DST_NUM_PKTS_\($0)_BYTES"] } == [1, 0, 0, 0, 0, 0])
        #expect(bins.map { out["NUM_PKTS_\($0)_BYTES"] } == [2, 2, 2, 2, 2, 2])
        #expect(bins.compactMap { out["SRC_NUM_PKTS_\($0)_BYTES"] }.reduce(0, +) == out["IN_PKTS"])
        #expect(out["SRC_MIN_IP_PKT_LEN"] == 127 && out["SRC_MAX_IP_PKT_LEN"] == 2000)
        #expect(out["DST_MIN_IP_PKT_LEN"] == 60 && out["DST_MAX_IP_PKT_LEN"] == 60)
        #expect(out["MIN_IP_PKT_LEN"] == 60 && out["MAX_IP_PKT_LEN"] == 2000)
    }

    @Test func gsoSkbsCountEachWirePacketInItsBin() throws {
        let h = try ProgramHarness(features: "pkt_len,ttl")
        // 2500 payload bytes in segments of 1000: two of 40 + 1000 bytes, one of 40 + 500
        let tso = Packet.ethernet().ipv4(ttl: 64).tcp(sport: 9, dport: 10, payload: [UInt8](repeating: 1, count: 2500))
        try sendGSO(h, tso, at: 1_000, segments: 3, size: 1000)
        let out = try exportedValues(h, key4(c, s, 9, 10, 6))
        #expect(out["IN_PKTS"] == 3 && out["IN_BYTES"] == 2620)
        #expect(out["SRC_NUM_PKTS_512_TO_1024_BYTES"] == 1)
        #expect(out["SRC_NUM_PKTS_1024_TO_1514_BYTES"] == 2)
        #expect(out["SRC_MIN_IP_PKT_LEN"] == 540 && out["SRC_MAX_IP_PKT_LEN"] == 1040)
        #expect(out["SRC_NUM_PKTS_TTL_32_64"] == 3)
    }

    @Test func countersPast16And32BitsDoNotWrap() throws {
        let h = try ProgramHarness(features: "seed")
        // The IPv4 total length claims 65,535 bytes (the frame is short: flowgen counts what the
        // header says), so 70,000 runs pass 4 GiB; the same segment repeated is retransmitted.
        let big = Packet.ethernet().ipv4(ttl: 1, totalLength: 65535).tcp(sport: 11, dport: 12, seq: 1000, flags: [.ack, .psh],
                                                                       payload: [UInt8](repeating: 2, count: 100))
        let runs: UInt32 = 70_000
        try h.send(big, at: 1_000, repeat: runs)
        let out = try exportedValues(h, key4(c, s, 11, 12, 6))
        #expect(out["IN_PKTS"] == UInt64(runs))
        #expect(out["IN_BYTES"] == UInt64(runs) * 65535)                      // 4,587,450,000 > 2^32
        #expect(out["SRC_NUM_PKTS_OVER_1514_BYTES"] == UInt64(runs))          // > 65,536 in one bin
        #expect(out["SRC_NUM_PKTS_TTL_EQ_1"] == UInt64(runs))
        #expect(out["RETRANSMITTED_IN_PKTS"] == UInt64(runs - 1))
        #expect(out["RETRANSMITTED_IN_BYTES"] == UInt64(runs - 1) * (65535 - 40))  // > 2^32 as well
        #expect(try h.counters().values.reduce(0, +) == 0)
    }

    @Test func ttlZeroIsCountedAndEveryTTLHasOneBin() throws {
        let h = try ProgramHarness(features: "ttl")
        let ttls: [UInt8] = [0, 1, 2, 5, 6, 32, 33, 64, 65, 96, 97, 128, 129, 160, 161, 192, 193, 224, 225, 255]
        for (i, ttl) in ttls.enumerated() { try h.send(udp(c, s, ipLength: 60, ttl: ttl), at: UInt64(1_000 + i)) }
        try h.send(udp(c, s, ipLength: 60, ttl: 255).reversed(), at: 5_000)
        let out = try exportedValues(h, key4(c, s, 5000, 53, 17))
        let names = ["EQ_0", "EQ_1", "2_5", "5_32", "32_64", "64_96", "96_128", "128_160", "160_192", "192_224", "224_255"]
        #expect(names.map { out["SRC_NUM_PKTS_TTL_\($0)"] } == [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2])
        #expect(names.compactMap { out["SRC_NUM_PKTS_TTL_\($0)"] }.reduce(0, +) == out["IN_PKTS"])
        #expect(out["DST_NUM_PKTS_TTL_224_255"] == 1)
        #expect(out["SRC_MIN_TTL"] == 0 && out["SRC_MAX_TTL"] == 255)
        #expect(out["DST_MIN_TTL"] == 255 && out["DST_MAX_TTL"] == 255)   // 255 is a value, not "unset"
        #expect(out["MIN_TTL"] == 0 && out["MAX_TTL"] == 255)
        #expect(out["NUM_PKTS_TTL_224_255"] == 3)
        // a flow whose only packet has hop limit 0: min and max 0
        let zero = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2", hopLimit: 0).udp(sport: 1, dport: 2)
        try h.send(zero, at: 7_000)
        let out6 = try exportedValues(h, key6("fd00::1", "fd00::2", 1, 2, 17))
        #expect(out6["SRC_MIN_TTL"] == 0 && out6["SRC_MAX_TTL"] == 0 && out6["SRC_NUM_PKTS_TTL_EQ_0"] == 1)
    }

    // MARK: TCP window

    func tcp4(_ src: String, _ dst: String, _ sport: UInt16, _ dport: UInt16, seq: UInt32 = 1, flags: PacketBuilder.TCPFlags,
              window: UInt16, options: [PacketBuilder.TCPOption] = [], payload: Int = 0) -> PacketBuilder {
        Packet.ethernet().ipv4(src: .init(stringLiteral: src), dst: .init(stringLiteral: dst))
            .tcp(sport: sport, dport: dport, seq: seq, flags: flags, window: window, options: options,
                 payload: [UInt8](repeating: 0x61, count: payload))
    }

    @Test func windowIsScaledOnlyWhenBothSYNsCarriedTheOption() throws {
        let h = try ProgramHarness(features: "tcp_window")
        // options in an unusual order, MSS last; and a SYN-ACK in another order
        let synOptions: [PacketBuilder.TCPOption] = [.noOperation, .sackPermitted, .timestamp(value: 1, echoReply: 0),
                                                    .noOperation, .windowScale(7), .maximumSegmentSize(1460)]
        let synAckOptions: [PacketBuilder.TCPOption] = [.sackPermitted, .timestamp(value: 9, echoReply: 1), .windowScale(9),
                                                       .noOperation, .maximumSegmentSize(1400)]
        try h.send(tcp4(c, s, 40000, 80, flags: [.syn], window: 64240, options: synOptions), at: 1_000)
        try h.send(tcp4(s, c, 80, 40000, flags: [.syn, .ack], window: 65160, options: synAckOptions), at: 2_000)
        try h.send(tcp4(c, s, 40000, 80, flags: [.ack], window: 502), at: 3_000)
        try h.send(tcp4(c, s, 40000, 80, flags: [.ack], window: 1000), at: 4_000)
        try h.send(tcp4(s, c, 80, 40000, flags: [.ack], window: 509), at: 5_000)
        try h.send(tcp4(c, s, 40000, 80, flags: [.rst], window: 0), at: 6_000)      // a RST's window is not a window
        let out = try exportedValues(h, key4(c, s, 40000, 80, 6))
        #expect(out["TCP_WIN_MSS_IN"] == 1460 && out["TCP_WIN_SCALE_IN"] == 7)
        #expect(out["TCP_WIN_MSS_OUT"] == 1400 && out["TCP_WIN_SCALE_OUT"] == 9)
        #expect(out["TCP_WIN_MIN_IN"] == 64240)              // the SYN's own window, never scaled, is the smallest
        #expect(out["TCP_WIN_MAX_IN"] == 1000 << 7)
        #expect(out["TCP_WIN_MIN_OUT"] == 65160)
        #expect(out["TCP_WIN_MAX_OUT"] == 509 << 9)
    }

    @Test func windowStaysUnscaledWhenOneSYNLacksTheOption() throws {
        let h = try ProgramHarness(features: "tcp_window")
        try h.send(tcp4(c, s, 40001, 80, flags: [.syn], window: 64240,
                        options: [.maximumSegmentSize(1460), .noOperation, .windowScale(7)]), at: 1_000)
        try h.send(tcp4(s, c, 80, 40001, flags: [.syn, .ack], window: 5000, options: [.maximumSegmentSize(536)]), at: 2_000)
        try h.send(tcp4(c, s, 40001, 80, flags: [.ack], window: 100), at: 3_000)
        try h.send(tcp4(s, c, 80, 40001, flags: [.ack], window: 6000), at: 4_000)
        let out = try exportedValues(h, key4(c, s, 40001, 80, 6))
        #expect(out["TCP_WIN_SCALE_IN"] == 7)                 // what the SYN carried
        #expect(out["TCP_WIN_SCALE_OUT"] == nil)              // no option: left out
        #expect(out["TCP_WIN_MSS_OUT"] == 536)
        #expect(out["TCP_WIN_MIN_IN"] == 100 && out["TCP_WIN_MAX_IN"] == 64240)
        #expect(out["TCP_WIN_MIN_OUT"] == 5000 && out["TCP_WIN_MAX_OUT"] == 6000)

        // a SYN nobody answered: scaled by nothing, and no OUT values at all
        try h.send(tcp4(c, s, 40002, 80, flags: [.syn], window: 1024, options: [.windowScale(14)]), at: 5_000)
        let lone = try exportedValues(h, key4(c, s, 40002, 80, 6))
        #expect(lone["TCP_WIN_MIN_IN"] == 1024 && lone["TCP_WIN_MAX_IN"] == 1024 && lone["TCP_WIN_SCALE_IN"] == 14)
        #expect(lone["TCP_WIN_MIN_OUT"] == nil && lone["TCP_WIN_MSS_IN"] == nil)

        // picked up mid-stream (no SYN seen): raw windows, no MSS
        try h.send(tcp4(c, s, 40003, 80, flags: [.ack], window: 300), at: 6_000)
        try h.send(tcp4(s, c, 80, 40003, flags: [.ack], window: 700), at: 7_000)
        let mid = try exportedValues(h, key4(c, s, 40003, 80, 6))
        #expect(mid["TCP_WIN_MIN_IN"] == 300 && mid["TCP_WIN_MAX_OUT"] == 700 && mid["TCP_WIN_MSS_IN"] == nil)
    }

    @Test func optionWalkSkipsUnknownKindsAndStopsAtMalformedOnes() throws {
        let h = try ProgramHarness(features: "tcp_window")
        func syn(_ port: UInt16, _ options: [PacketBuilder.TCPOption], v6: Bool = false) throws -> [String: UInt64] {
            let p = v6
                ? Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").tcp(sport: port, dport: 443, flags: [.syn], window: 1, options: options)
                : tcp4(c, s, port, 443, flags: [.syn], window: 1, options: options)
            try h.send(p, at: UInt64(port))
            return try exportedValues(h, v6 ? key6("fd00::1", "fd00::2", port, 443, 6) : key4(c, s, port, 443, 6))
        }
        // 36 NOPs, then MSS in the last 4 option bytes: every position of the 40 is walked
        #expect(try syn(1, Array(repeating: .noOperation, count: 36) + [.maximumSegmentSize(1200)])["TCP_WIN_MSS_IN"] == 1200)
        // an unknown kind (30, MPTCP, 12 bytes) is stepped over by its length
        #expect(try syn(2, [.raw([30, 12] + [UInt8](repeating: 0, count: 10)), .windowScale(5), .maximumSegmentSize(1300)])["TCP_WIN_MSS_IN"] == 1300)
        // window scale as the very last option byte of a SYN without payload
        let last = try syn(3, [.maximumSegmentSize(1000), .sackPermitted, .timestamp(value: 1, echoReply: 0), .noOperation, .windowScale(6)])
        #expect(last["TCP_WIN_SCALE_IN"] == 6 && last["TCP_WIN_MSS_IN"] == 1000)
        // a length below 2 ends the walk: the MSS after it is not believed
        #expect(try syn(4, [.raw([8, 1]), .noOperation, .noOperation, .maximumSegmentSize(900)])["TCP_WIN_MSS_IN"] == nil)
        // end-of-list ends it too
        #expect(try syn(5, [.endOfList, .noOperation, .noOperation, .noOperation, .maximumSegmentSize(900)])["TCP_WIN_MSS_IN"] == nil)
        // an option running past the header is malformed
        #expect(try syn(6, [.noOperation, .noOperation, .raw([2, 12, 5, 0])])["TCP_WIN_MSS_IN"] == nil)
        // IPv6
        let v6 = try syn(7, [.noOperation, .windowScale(3), .maximumSegmentSize(1440)], v6: true)
        #expect(v6["TCP_WIN_MSS_IN"] == 1440 && v6["TCP_WIN_SCALE_IN"] == 3)
    }

    // MARK: retransmissions and out-of-order segments

    /// One direction's crafted segments: the counts flowgen must report for them.
    func retransmissionScenario(v6: Bool) throws {
        let h = try ProgramHarness(features: "tcp_retrans")
        let ms: UInt64 = 1_000_000
        let isn: UInt32 = 0xFFFF_FF00   // the sequence wraps past 2^32 on the way
        func seg(_ seq: UInt32, _ len: Int, _ flags: PacketBuilder.TCPFlags = [.ack, .psh], reverse: Bool = false) -> PacketBuilder {
            let base = v6 ? Packet.ethernet().ipv6(src: reverse ? "fd00::2" : "fd00::1", dst: reverse ? "fd00::1" : "fd00::2")
                          : Packet.ethernet().ipv4(src: reverse ? "198.18.0.2" : "198.18.0.1", dst: reverse ? "198.18.0.1" : "198.18.0.2")
            return base.tcp(sport: reverse ? 80 : 40000, dport: reverse ? 40000 : 80, seq: seq, flags: flags,
                            payload: [UInt8](repeating: 0x62, count: len))
        }
        var t: UInt64 = 1 * ms
        func at(_ step: UInt64) -> UInt64 { t += step; return t }
        try h.send(seg(isn, 0, [.syn]), at: at(0))                    // hi = isn + 1
        try h.send(seg(isn, 0, [.syn]), at: at(1000 * ms))            // SYN again: retransmission, 0 bytes   R1
        try h.send(seg(7, 0, [.syn, .ack], reverse: true), at: at(ms))
        try h.send(seg(isn &+ 1, 0, [.ack]), at: at(ms))              // pure ACK: nothing
        try h.send(seg(isn &+ 1, 100), at: at(ms))                    // hi = isn + 101
        try h.send(seg(isn &+ 101, 100), at: at(ms))                  // hi = isn + 201 (past 2^32)
        try h.send(seg(isn &+ 1, 100), at: at(50 * ms))               // bytes seen before: retransmission   R2 100
        try h.send(seg(isn &+ 200, 1), at: at(ms))                    // keep-alive (hi - 1, 1 byte): neither
        try h.send(seg(isn &+ 200, 0), at: at(ms))                    // keep-alive without data: neither
        try h.send(seg(isn &+ 1, 0, [.ack]), at: at(ms))              // old pure ACK: occupies no sequence space
        try h.send(seg(isn &+ 301, 100), at: at(ms))                  // jumps over [201, 301): a gap, hi = 401
        try h.send(seg(isn &+ 201, 100), at: at(ms))                  // fills it 1 ms later: out of order       O1 100
        try h.send(seg(isn &+ 501, 100), at: at(ms))                  // gap [401, 501), hi = 601
        try h.send(seg(isn &+ 401, 100), at: at(10 * ms))             // filled 10 ms later: lost upstream       R3 100
        try h.send(seg(isn &+ 551, 100), at: at(ms))                  // starts below hi, ends past it           R4 100, hi = 651
        try h.send(seg(isn &+ 651, 0, [.fin, .ack]), at: at(ms))      // FIN: hi = 652
        try h.send(seg(isn &+ 651, 0, [.fin, .ack]), at: at(200 * ms)) // FIN again                              R5 0
        try h.send(seg(8, 0, [.ack], reverse: true), at: at(ms))
        let fwd = v6 ? key6("fd00::1", "fd00::2", 40000, 80, 6) : key4("198.18.0.1", "198.18.0.2", 40000, 80, 6)
        let out = try exportedValues(h, fwd)
        #expect(out["RETRANSMITTED_IN_PKTS"] == 5)
        #expect(out["RETRANSMITTED_IN_BYTES"] == 300)
        #expect(out["OOORDER_IN_PKTS"] == 1)
        #expect(out["OOORDER_IN_BYTES"] == 100)
        #expect(out["RETRANSMITTED_OUT_PKTS"] == 0 && out["OOORDER_OUT_PKTS"] == 0)
    }

    @Test func retransmissionsAndReorderingAreClassifiedOverIPv4() throws { try retransmissionScenario(v6: false) }
    @Test func retransmissionsAndReorderingAreClassifiedOverIPv6() throws { try retransmissionScenario(v6: true) }

    @Test func aFlowPickedUpMidStreamStartsFromItsFirstSegment() throws {
        let h = try ProgramHarness(features: "tcp_retrans")
        let data = [UInt8](repeating: 1, count: 50)
        try h.send(Packet.ethernet().ipv4().tcp(sport: 3, dport: 4, seq: 5000, payload: data), at: 1_000)
        try h.send(Packet.ethernet().ipv4().tcp(sport: 3, dport: 4, seq: 5050, payload: data), at: 2_000)
        try h.send(Packet.ethernet().ipv4().tcp(sport: 3, dport: 4, seq: 5000, payload: data), at: 90_000_000)
        // a GSO skb retransmitted: its wire packets and all its payload
        try sendGSO(h, Packet.ethernet().ipv4().tcp(sport: 3, dport: 4, seq: 5000, payload: [UInt8](repeating: 1, count: 100)),
                    at: 91_000_000, segments: 2, size: 50)
        let k = key4(c, s, 3, 4, 6)
        #expect(try h.value("tcp_retrans_pkts", k) == 3)
        #expect(try h.value("tcp_retrans_bytes", k) == 150)
    }

    // MARK: the preset

    @Test func seedIsOneProgramAndExportsEveryReferenceName() throws {
        let h = try ProgramHarness(features: "seed", stages: StagePolicy(maxStages: 1))
        #expect(h.monitor.plan.stages.count == 1)
        let insns = try #require(h.monitor.plan.stages[0].verifiedInstructions)
        #expect(insns > 0 && insns < StagePolicy.kernelLimit)
        print("seed: one program, \(insns) instructions verified")
        #expect(Set(h.monitor.plan.features.map(\.name)).isSuperset(of: ["tcp", "icmp", "jitter", "ip_info", "pkt_len", "ttl", "tcp_window", "tcp_retrans", "seed"]))

        try h.send(tcp4(c, s, 40000, 80, flags: [.syn], window: 64240, options: [.maximumSegmentSize(1460), .noOperation, .windowScale(7)]), at: 1_000)
        try h.send(tcp4(s, c, 80, 40000, flags: [.syn, .ack], window: 65160, options: [.maximumSegmentSize(1460), .noOperation, .windowScale(7)]), at: 2_000)
        try h.send(tcp4(c, s, 40000, 80, seq: 2, flags: [.ack, .psh], window: 502, payload: 10), at: 3_000)
        try h.send(tcp4(c, s, 40000, 80, seq: 2, flags: [.ack, .psh], window: 502, payload: 10), at: 4_000_000)
        let records = try h.records()
        let fwd = try #require(records[key4(c, s, 40000, 80, 6)])
        let flow = Biflow(id: 1, forward: fwd, reverse: records[key4(s, c, 80, 40000, 6)], endReason: .forced)
        let formatter = FlowFormatter(schema: OutputSchema(plan: h.monitor.plan), format: .json)
        let line = formatter.format([flow], epochOffsetNs: 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        var expected = ["FLOW_ID", "IN_JITTER", "OUT_JITTER", "SRC_TOS", "DST_TOS", "SRC_FLOWLABEL", "DST_FLOWLABEL",
                        "MIN_IP_PKT_LEN", "MAX_IP_PKT_LEN", "SRC_MIN_IP_PKT_LEN", "SRC_MAX_IP_PKT_LEN", "DST_MIN_IP_PKT_LEN",
                        "DST_MAX_IP_PKT_LEN", "MIN_TTL", "MAX_TTL", "SRC_MIN_TTL", "SRC_MAX_TTL", "DST_MIN_TTL", "DST_MAX_TTL",
                        "RETRANSMITTED_IN_PKTS", "RETRANSMITTED_OUT_PKTS", "RETRANSMITTED_IN_BYTES", "RETRANSMITTED_OUT_BYTES",
                        "OOORDER_IN_PKTS", "OOORDER_OUT_PKTS", "OOORDER_IN_BYTES", "OOORDER_OUT_BYTES",
                        "TCP_WIN_MIN_IN", "TCP_WIN_MAX_IN", "TCP_WIN_MSS_IN", "TCP_WIN_SCALE_IN",
                        "TCP_WIN_MIN_OUT", "TCP_WIN_MAX_OUT", "TCP_WIN_MSS_OUT", "TCP_WIN_SCALE_OUT",
                        "TCP_FLAGS", "CLIENT_TCP_FLAGS", "SERVER_TCP_FLAGS", "IN_PKTS", "OUT_PKTS", "IN_BYTES", "OUT_BYTES"]
        for bin in ["UP_TO_128", "128_TO_256", "256_TO_512", "512_TO_1024", "1024_TO_1514", "OVER_1514"] {
            expected += ["NUM_PKTS_\(bin)_BYTES", "SRC_NUM_PKTS_\(bin)_BYTES", "DST_NUM_PKTS_\(bin)_BYTES"]
        }
        for bin in ["EQ_0", "EQ_1", "2_5", "5_32", "32_64", "64_96", "96_128", "128_160", "160_192", "192_224", "224_255"] {
            expected += ["NUM_PKTS_TTL_\(bin)", "SRC_NUM_PKTS_TTL_\(bin)", "DST_NUM_PKTS_TTL_\(bin)"]
        }
        for name in expected {
            #expect(object[name] is Int, "\(name) missing or not a number in \(line)")
        }
        #expect(object["TCP_WIN_MAX_IN"] as? Int == 502 << 7)
        #expect(object["RETRANSMITTED_IN_PKTS"] as? Int == 1)
        #expect(object["SRC_NUM_PKTS_UP_TO_128_BYTES"] as? Int == 3)
    }
}
