import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
import CLibBPF
import Synchronization

/// The generated program, verified and loaded by the real kernel, driven with BPF_PROG_TEST_RUN
/// over crafted packets; every test asserts exact record contents read back from the map.
@Suite(.serialized) struct GeneratedProgramTests {
    let client = "198.18.0.1", server = "198.18.0.2"

    @Test func tcpConversationIsCountedPerDirection() throws {
        let h = try ProgramHarness(features: "tcp,icmp")
        let syn = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").tcp(sport: 40000, dport: 80, flags: [.syn])
        let synAck = Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").tcp(sport: 80, dport: 40000, flags: [.syn, .ack])
        let data = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").tcp(sport: 40000, dport: 80, flags: [.ack, .psh], payload: [UInt8](repeating: 7, count: 100))
        #expect(try h.send(syn, at: 1_000) == -1) // TC_ACT_UNSPEC: other filters still run
        try h.send(synAck, at: 1_500)
        try h.send(data, at: 2_000)
        let fwd = key4(client, server, 40000, 80, 6), rev = key4(server, client, 80, 40000, 6)
        let records = try h.records()
        #expect(records.count == 2)
        #expect(try h.value("packets", fwd) == 2)
        #expect(try h.value("bytes", fwd) == 40 + 140)
        #expect(try h.value("first_seen", fwd) == 1_000)
        #expect(try h.value("last_seen", fwd) == 2_000)
        #expect(try h.value("tcp_flags", fwd) == 0x02 | 0x10 | 0x08)
        #expect(try h.value("packets", rev) == 1)
        #expect(try h.value("bytes", rev) == 40)
        #expect(try h.value("tcp_flags", rev) == 0x12)
        #expect(try h.counters().values.reduce(0, +) == 0)
    }

    @Test func ipv6ExtensionHeadersAreWalkedToTheTransport() throws {
        let h = try ProgramHarness(features: "tcp")
        let p = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").hopByHop().destinationOptions()
            .udp(sport: 5353, dport: 53, payload: [UInt8](repeating: 1, count: 20))
        try h.send(p)
        let k = key6("fd00::1", "fd00::2", 5353, 53, 17)
        #expect(try h.value("packets", k) == 1)
        #expect(try h.value("bytes", k) == 84) // 40 + hop-by-hop 8 + dest-opts 8 + UDP 8 + 20
        let routed = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::3").routing().tcp(sport: 1, dport: 2, flags: [.syn])
        try h.send(routed)
        #expect(try h.value("tcp_flags", key6("fd00::1", "fd00::3", 1, 2, 6)) == 0x02)
    }

    @Test func icmpIsKeyedByTypeCodeAndIdentifier() throws {
        let h = try ProgramHarness(features: "icmp")
        try h.send(Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").icmpv4(type: 8, identifier: 77, sequence: 1))
        try h.send(Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").icmpv4(type: 8, identifier: 77, sequence: 2))
        try h.send(Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").icmpv4(type: 8, identifier: 78, sequence: 1))
        try h.send(Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").icmpv4(type: 0, identifier: 77, sequence: 1))
        try h.send(Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").icmpv4(type: 3, code: 3, payload: [UInt8](repeating: 0, count: 28)))
        try h.send(Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").icmpv6(type: 128, identifier: 5))
        #expect(try h.value("packets", key4(client, server, 77, 8 << 8, 1)) == 2)
        #expect(try h.value("packets", key4(client, server, 78, 8 << 8, 1)) == 1)
        #expect(try h.value("packets", key4(server, client, 77, 0, 1)) == 1)
        #expect(try h.value("packets", key4(server, client, 0, 3 << 8 | 3, 1)) == 1)
        #expect(try h.value("packets", key6("fd00::1", "fd00::2", 5, 128 << 8, 58)) == 1)
        #expect(try h.records().count == 5)
    }

    @Test func icmpWithoutTheModuleIsKeyedByAddresses() throws {
        let h = try ProgramHarness(features: "")
        try h.send(Packet.ethernet().ipv4().icmpv4(type: 8, identifier: 1))
        try h.send(Packet.ethernet().ipv4().icmpv4(type: 8, identifier: 2))
        #expect(try h.value("packets", key4(client, server, 0, 0, 1)) == 2)
    }

    @Test func vlanTagsAreSkippedUpToFour() throws {
        let h = try ProgramHarness(features: "")
        var p = Packet.ethernet()
        for id in 1...4 { p = p.vlan(UInt16(id)) }
        try h.send(p.ipv4().udp(sport: 1, dport: 2))
        try h.send(Packet.ethernet().qinq(outer: 10, inner: 20).ipv4().udp(sport: 1, dport: 2))
        #expect(try h.value("packets", key4(client, server, 1, 2, 17)) == 2)
        var deep = Packet.ethernet()
        for id in 1...5 { deep = deep.vlan(UInt16(id)) }
        try h.send(deep.ipv4().udp(sport: 3, dport: 4))
        #expect(try h.counters()[.vlanTooDeep] == 1)
        #expect(try h.records().count == 1)
    }

    @Test func malformedPacketsAreCountedNeverMiskeyed() throws {
        let h = try ProgramHarness(features: "tcp")
        let tcp = Packet.ethernet().ipv4().tcp(sport: 16390, dport: 56426, flags: [.syn])
        try h.send(Packet.ethernet().ipv4(ihl: 2).tcp(sport: 1, dport: 2))              // the reference keyed this
        try h.send(Packet.ethernet().ipv4().tcp(sport: 1, dport: 2, dataOffset: 3))       // doff < 5
        try h.send(tcp.truncated(to: 14 + 20 + 10))                                        // TCP header cut short
        // (BPF_PROG_TEST_RUN refuses IPv4 frames shorter than 20 IP bytes; live, they count as truncated too)
        try h.send(Packet.ethernet().ipv4(ihl: 15).udp(sport: 1, dport: 2))                // IHL beyond the total length
        try h.send(Packet.ethernet().ipv4(totalLength: 10).udp(sport: 1, dport: 2))        // total length < header
        try h.send(Packet.ethernet().ethernetPayload(etherType: 0x0806, [UInt8](repeating: 0, count: 28))) // ARP
        let c = try h.counters()
        #expect(c[.badIPv4Header] == 3)
        #expect(c[.badTCPHeader] == 1)
        #expect(c[.truncated] == 1)
        #expect(c[.notIP] == 1)
        #expect(try h.records().isEmpty)
    }

    @Test func laterFragmentsAreKeyedWithoutPorts() throws {
        let h = try ProgramHarness(features: "")
        try h.send(Packet.ethernet().ipv4(id: 9, flags: [.moreFragments]).udp(sport: 1000, dport: 2000, payload: [UInt8](repeating: 0, count: 64)))
        try h.send(Packet.ethernet().ipv4(id: 9, fragmentOffset: 9, protocol: 17).ipPayload(protocol: 17, [UInt8](repeating: 0, count: 40)))
        try h.send(Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").fragment(offset: 100).udp(sport: 7, dport: 8))
        #expect(try h.value("packets", key4(client, server, 1000, 2000, 17)) == 1)
        #expect(try h.value("bytes", key4(client, server, 0, 0, 17)) == 60)
        #expect(try h.value("packets", key6("fd00::1", "fd00::2", 0, 0, 17)) == 1)
        #expect(try h.counters()[.fragments] == 2)
    }

    @Test func otherProtocolsAreFlowsOfAddresses() throws {
        let h = try ProgramHarness(features: "")
        try h.send(Packet.ethernet().ipv4().ipPayload(protocol: 47, [UInt8](repeating: 0, count: 24)))
        try h.send(Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").ipPayload(protocol: 50, [UInt8](repeating: 0, count: 16)))
        #expect(try h.value("bytes", key4(client, server, 0, 0, 47)) == 44)
        #expect(try h.value("bytes", key6("fd00::1", "fd00::2", 0, 0, 50)) == 56)
    }

    @Test func excludedVersionsAreCountedNotTracked() throws {
        let h = try ProgramHarness(features: "-ipv6")
        try h.send(Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").udp(sport: 1, dport: 2))
        try h.send(Packet.ethernet().ipv4().udp(sport: 1, dport: 2))
        #expect(try h.counters()[.ipVersionExcluded] == 1)
        #expect(try h.records().count == 1)
    }

    @Test func gsoPacketsCountWirePacketsAndBytes() throws {
        let h = try ProgramHarness(features: "")
        // a 3-segment TSO skb: one 20+20 header set plus 3000 bytes of payload
        let p = Packet.ethernet().ipv4().tcp(sport: 5, dport: 6, payload: [UInt8](repeating: 0, count: 3000))
        try h.send(p, gsoSegments: 3)
        let k = key4(client, server, 5, 6, 6)
        #expect(try h.value("packets", k) == 3)
        #expect(try h.value("bytes", k) == UInt64(3000 + 3 * 40))
    }

    @Test func aFullTableIsCountedAndKeepsExistingFlows() throws {
        let h = try ProgramHarness(features: "", maxFlows: 16)
        for port in 1...20 { try h.send(Packet.ethernet().ipv4().udp(sport: UInt16(port), dport: 9)) }
        try h.send(Packet.ethernet().ipv4().udp(sport: 1, dport: 9))
        #expect(try h.records().count == 16)
        #expect(try h.counters()[.tableFull] == 4)
        #expect(try h.value("packets", key4(client, server, 1, 9, 17)) == 2)
    }

    @Test func liveModeStampsKernelTime() throws {
        // default: the coarse clock, at most a tick (4 ms at HZ=250; 20 ms allowed) behind
        let coarse = try ProgramHarness(features: "", live: true)
        var before = MonotonicClock.nowNs()
        try coarse.send(Packet.ethernet().ipv4().udp(sport: 1, dport: 2))
        var after = MonotonicClock.nowNs()
        let t = try #require(try coarse.value("first_seen", key4(client, server, 1, 2, 17)))
        #expect(t + 20_000_000 >= before && t <= after)
        // precise_time (and any module that needs it): bpf_ktime_get_ns
        let precise = try ProgramHarness(features: "precise_time", live: true)
        before = MonotonicClock.nowNs()
        try precise.send(Packet.ethernet().ipv4().udp(sport: 1, dport: 2))
        after = MonotonicClock.nowNs()
        let p = try #require(try precise.value("first_seen", key4(client, server, 1, 2, 17)))
        #expect(p >= before && p <= after)
    }

    @Test func twoCPUsOnOneFlowCountExactly() throws {
        let h = try ProgramHarness(features: "tcp")
        let packet = Packet.ethernet().ipv4().tcp(sport: 7, dport: 8, flags: [.ack], payload: [1, 2, 3])
        try h.send(packet) // create the flow first, so both CPUs race on updates in place
        let perThread: UInt32 = 200_000
        let errors = onBothCPUs { _ in try h.send(packet, repeat: perThread) }
        #expect(errors.isEmpty)
        let k = key4(client, server, 7, 8, 6)
        #expect(try h.value("packets", k) == UInt64(2 * perThread + 1))
        #expect(try h.value("bytes", k) == UInt64(2 * perThread + 1) * 43)
    }

    @Test func twoCPUsCreatingOneFlowMakeTheRecordOneCPUMakes() throws {
        // Both CPUs send the first packet of each new flow at the same moment, so many inserts find
        // the flow created since their lookup (-EEXIST) and apply their packet to the other CPU's
        // record. Every record must still be the one a single CPU makes of the same two packets,
        // stateful modules (retransmissions, jitter, histograms, min/max) included.
        let flows = 3000
        let h = try ProgramHarness(features: "seed", maxFlows: 2 * flows)
        let reference = try ProgramHarness(features: "seed")
        func packet(_ i: Int) -> PacketBuilder {
            Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2")
                .tcp(sport: UInt16(10_000 + i), dport: 443, seq: 1_000, flags: [.ack, .psh], payload: [1, 2, 3])
        }
        let frames = (0..<flows).map { packet($0) }
        let pace = Lockstep()
        let errors = onBothCPUs { cpu in
            for i in 0..<flows {
                pace.arrive(cpu, at: i)
                try h.send(frames[i], at: 5_000)
            }
        }
        #expect(errors.isEmpty)
        try reference.send(packet(0), at: 5_000)
        try reference.send(packet(0), at: 5_000)
        let expected = try #require(try reference.records()[key4(client, server, 10_000, 443, 6)])
        #expect(try h.value("packets", key4(client, server, 10_000, 443, 6)) == 2)
        let records = try h.records()
        #expect(records.count == flows)
        var differing = 0
        for i in 0..<flows where records[key4(client, server, UInt16(10_000 + i), 443, 6)]?.values != expected.values {
            differing += 1
        }
        #expect(differing == 0, "\(differing) of \(flows) records differ from the single-CPU record")
        #expect(try h.counters()[.updateFailed, default: 0] == 0)
    }

    @Test func customModuleUpdateBodyRunsAndCompileErrorsPointAtIt() throws {
        try requireRoot()
        let root = NSTemporaryDirectory() + "fgmod-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/syn_count", withIntermediateDirectories: true)
        try """
        name: syn_count
        summary: SYN and SYN-ACK segments
        applies_to: [tcp]
        fields:
          - name: syn_packets
            type: u32
            aggregation: sum
            json: { forward: SYN_IN, reverse: SYN_OUT }
        update: update.bpf.c
        """.write(toFile: root + "/syn_count/feature.yaml", atomically: true, encoding: .utf8)
        try "/* count SYNs */\nif (pkt->tcp_flags & 0x02)\n\tFG_SET(syn_packets, 1);\n".write(toFile: root + "/syn_count/update.bpf.c", atomically: true, encoding: .utf8)
        let h = try ProgramHarness(features: "syn_count", featurePaths: [root])
        try h.send(Packet.ethernet().ipv4().tcp(sport: 1, dport: 2, flags: [.syn]))
        try h.send(Packet.ethernet().ipv4().tcp(sport: 1, dport: 2, flags: [.ack]))
        #expect(try h.value("syn_packets", key4(client, server, 1, 2, 6)) == 1)

        try "/* count SYNs */\nif (pkt->tcp_flags & 0x02)\n\tFG_SET(syn_packets, undefined_thing);\n".write(toFile: root + "/syn_count/update.bpf.c", atomically: true, encoding: .utf8)
        do {
            _ = try ProgramHarness(features: "syn_count", featurePaths: [root])
            Issue.record("a broken update body compiled")
        } catch let KernelError.compileFailed(log) {
            #expect(log.contains("syn_count/update.bpf.c:3:"), "\(log)")
            #expect(log.contains("undefined_thing"))
        }
    }
}

/// Keeps two threads in step: each arrives at step i only once the other has reached it too.
final class Lockstep: Sendable {
    private let first = Atomic<Int>(0)
    private let second = Atomic<Int>(0)

    func arrive(_ thread: Int, at step: Int) {
        if thread == 0 {
            first.store(step + 1, ordering: .releasing)
            while second.load(ordering: .acquiring) < step + 1 {}
        } else {
            second.store(step + 1, ordering: .releasing)
            while first.load(ordering: .acquiring) < step + 1 {}
        }
    }
}

/// Errors collected from worker threads.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var errors: [Error] = []
    func add(_ e: Error) { lock.lock(); errors.append(e); lock.unlock() }
}

/// Runs `body` on two threads pinned to CPUs 0 and 1 at once, and returns the errors they threw.
func onBothCPUs(_ body: @escaping @Sendable (Int) throws -> Void) -> [Error] {
    let errors = ErrorBox()
    let done = DispatchGroup()
    for cpu in 0..<2 {
        done.enter()
        let thread = Thread {
            _ = fg_pin_thread_to_cpu(Int32(cpu))
            do { try body(cpu) } catch { errors.add(error) }
            done.leave()
        }
        thread.start()
    }
    done.wait()
    return errors.errors
}
