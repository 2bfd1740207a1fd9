import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

/// The kernel collector pass (Templates/pass.h) on crafted flows, run with BPF_PROG_TEST_RUN: its
/// end rules (idle, FIN/RST quiet, active timeout, eviction, both directions together, ICMP
/// request and reply paired), the two-phase cut (a packet after the cut counts into a successor,
/// exported as a record of its own), and a ring that fills (the pass goes on, nothing dropped).
@Suite(.serialized) struct KernelPassTests {
    static let s: UInt64 = 1_000_000_000

    /// A loaded monitor in replay mode (packet time = the time given), its kernel pass, and a
    /// collector using it.
    struct Fixture {
        let harness: ProgramHarness
        let pass: KernelFlowPass
        let collector: FlowCollector
        let flows: CollectedFlows

        init(features: String, maxFlows: Int = 1024, policy: ExpiryPolicy = ExpiryPolicy()) throws {
            harness = try ProgramHarness(features: features, maxFlows: maxFlows)
            pass = try #require(try harness.monitor.kernelPass(), "this kernel has what the pass needs (6.18)")
            flows = CollectedFlows()
            collector = FlowCollector(plan: harness.monitor.plan, source: TableFlowSource(table: try harness.monitor.flowTable()),
                                      exporter: flows, policy: policy)
            collector.kernelEnding = pass
        }

        func value(_ field: String, _ record: FlowRecord?) -> UInt64? {
            record.flatMap { harness.decoder.value(field, in: $0) }
        }

        /// The exported biflow whose forward key is `key`, or whose reverse is.
        func flow(_ key: FlowKey) -> Biflow? {
            flows.flows.first { $0.forward.key == key || $0.reverse?.key == key }
        }
    }

    static func udp(_ src: String, _ dst: String, _ sport: UInt16, _ dport: UInt16, payload: Int = 4) -> PacketBuilder {
        Packet.ethernet().ipv4(src: .init(stringLiteral: src), dst: .init(stringLiteral: dst))
            .udp(sport: sport, dport: dport, payload: [UInt8](repeating: 1, count: payload))
    }

    static func tcp(_ src: String, _ dst: String, _ sport: UInt16, _ dport: UInt16, _ flags: PacketBuilder.TCPFlags) -> PacketBuilder {
        Packet.ethernet().ipv4(src: .init(stringLiteral: src), dst: .init(stringLiteral: dst)).tcp(sport: sport, dport: dport, flags: flags)
    }

    @Test func endRulesMatchTheCollectors() throws {
        let f = try Fixture(features: "tcp,icmp", policy: ExpiryPolicy(idleTimeoutNs: 60 * Self.s, activeTimeoutNs: 1800 * Self.s, endQuietNs: Self.s))
        let now = 4000 * Self.s
        // idle: both directions quiet 61 s and 70 s -> one flow, idle timeout
        try f.harness.send(Self.udp("198.18.0.1", "198.18.0.2", 5000, 53), at: now - 80 * Self.s)
        try f.harness.send(Self.udp("198.18.0.1", "198.18.0.2", 5000, 53), at: now - 70 * Self.s)
        try f.harness.send(Self.udp("198.18.0.2", "198.18.0.1", 53, 5000), at: now - 61 * Self.s)
        // one direction quiet long, the other 10 s ago: the flow goes on (idle is the flow's)
        try f.harness.send(Self.udp("198.18.0.1", "198.18.0.3", 5001, 53), at: now - 100 * Self.s)
        try f.harness.send(Self.udp("198.18.0.3", "198.18.0.1", 53, 5001), at: now - 10 * Self.s)
        // FIN from both sides, quiet 2 s: end of flow
        try f.harness.send(Self.tcp("198.18.0.1", "198.18.0.4", 40000, 80, [.fin, .ack]), at: now - 3 * Self.s)
        try f.harness.send(Self.tcp("198.18.0.4", "198.18.0.1", 80, 40000, [.fin, .ack]), at: now - 2 * Self.s)
        // FIN from one side only, quiet 2 s: goes on
        try f.harness.send(Self.tcp("198.18.0.1", "198.18.0.5", 40001, 80, [.fin, .ack]), at: now - 3 * Self.s)
        try f.harness.send(Self.tcp("198.18.0.5", "198.18.0.1", 80, 40001, [.ack]), at: now - 2 * Self.s)
        // RST, but quiet only 0.5 s: goes on
        try f.harness.send(Self.tcp("198.18.0.1", "198.18.0.6", 40002, 80, [.rst]), at: now - Self.s / 2)
        // RST quiet 1 s exactly: end of flow (one direction only)
        try f.harness.send(Self.tcp("198.18.0.1", "198.18.0.7", 40003, 80, [.rst]), at: now - Self.s)
        // first packet 1,801 s ago, last 1 s ago: active timeout
        try f.harness.send(Self.udp("198.18.0.1", "198.18.0.8", 5002, 53), at: now - 1801 * Self.s)
        try f.harness.send(Self.udp("198.18.0.8", "198.18.0.1", 53, 5002), at: now - Self.s)
        // ICMP echo request and its reply, quiet 65 s: one flow (request forward)
        let request = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.9").icmpv4(type: 8, identifier: 77)
        let reply = Packet.ethernet().ipv4(src: "198.18.0.9", dst: "198.18.0.1").icmpv4(type: 0, identifier: 77)
        try f.harness.send(request, at: now - 66 * Self.s)
        try f.harness.send(reply, at: now - 65 * Self.s)

        let result = try f.collector.poll(now: now, highWater: .max, lowWater: .max)
        #expect(result.evicted == 0)
        let byKey = Dictionary(grouping: f.flows.flows, by: { $0.forward.key })
        #expect(f.flows.flows.count == 5, "\(f.flows.flows.map { "\($0.forward.key) \($0.endReason)" })")
        let idle = try #require(byKey[key4("198.18.0.1", "198.18.0.2", 5000, 53, 17)]?.first)
        #expect(idle.endReason == .idleTimeout && idle.reverse?.key == key4("198.18.0.2", "198.18.0.1", 53, 5000, 17))
        #expect(f.value("packets", idle.forward) == 2 && f.value("packets", idle.reverse) == 1)
        let fin = try #require(byKey[key4("198.18.0.1", "198.18.0.4", 40000, 80, 6)]?.first)
        #expect(fin.endReason == .endOfFlow && fin.reverse != nil)
        let rst = try #require(byKey[key4("198.18.0.1", "198.18.0.7", 40003, 80, 6)]?.first)
        #expect(rst.endReason == .endOfFlow && rst.reverse == nil)
        let active = try #require(byKey[key4("198.18.0.1", "198.18.0.8", 5002, 53, 17)]?.first)
        #expect(active.endReason == .activeTimeout && active.reverse != nil)
        let echo = try #require(f.flows.flows.first { $0.forward.key.proto == 1 })
        #expect(echo.endReason == .idleTimeout && echo.reverse != nil && echo.forward.key.dst.description == "198.18.0.9")
        // what goes on stays in the table, both directions
        let left = try f.harness.records()
        #expect(left.count == 5, "\(left.keys)")
        #expect(left[key4("198.18.0.1", "198.18.0.3", 5001, 53, 17)] != nil && left[key4("198.18.0.3", "198.18.0.1", 53, 5001, 17)] != nil)
        #expect(left[key4("198.18.0.1", "198.18.0.5", 40001, 80, 6)] != nil && left[key4("198.18.0.1", "198.18.0.6", 40002, 80, 6)] != nil)

        // the flush ends the rest: forced, but a TCP flow with a RST ends as end of flow
        let flushed = try f.collector.flushAll(reason: .forced)
        #expect(flushed == 3)
        #expect(try f.harness.records().isEmpty)
        #expect(f.flow(key4("198.18.0.1", "198.18.0.6", 40002, 80, 6))?.endReason == .endOfFlow)
        #expect(f.flow(key4("198.18.0.1", "198.18.0.3", 5001, 53, 17))?.endReason == .forced)
    }

    @Test func aPacketAfterTheCutCountsIntoASuccessor() throws {
        let f = try Fixture(features: "base", policy: ExpiryPolicy(idleTimeoutNs: Self.s))
        let out = Self.udp("198.18.0.1", "198.18.0.2", 6000, 7000)
        for t in 1...3 { try f.harness.send(out, at: UInt64(t) * Self.s) }
        try f.harness.send(out.reversed(), at: 3 * Self.s)
        let now = 5 * Self.s
        // phase one by hand: both directions cut
        let marked = try f.pass.run(.init(phase: .mark, now: now, policy: f.collector.policy))
        #expect(marked.entries == 2 && marked.marked == 2)
        let word = try #require(try f.harness.monitor.flowTable().lookup(key4("198.18.0.1", "198.18.0.2", 6000, 7000, 17).bytes))
        let packetWord = word.withUnsafeBytes { $0.load(as: UInt64.self) }
        #expect(packetWord >> 63 == 1 && packetWord & ((1 << 60) - 1) == 3 && (packetWord >> 60) & 7 == 1, "closing, idle, 3 packets: \(String(packetWord, radix: 16))")
        // a packet after the cut: its direction's count stays 3, it starts the successor
        try f.harness.send(Self.udp("198.18.0.1", "198.18.0.2", 6000, 7000, payload: 100), at: now)
        let after = try #require(try f.harness.monitor.flowTable().lookup(key4("198.18.0.1", "198.18.0.2", 6000, 7000, 17).bytes))
        #expect(after.withUnsafeBytes { $0.load(as: UInt64.self) } == packetWord, "the packet's add is taken back")
        // the move (after a barrier) exports the cut flow with exactly its packets before the cut
        try f.pass.barrier()
        let first = try f.collector.poll(now: now, highWater: .max, lowWater: .max)
        #expect(first.poll.exported == 1)
        let cut = try #require(f.flows.flows.first)
        #expect(f.value("packets", cut.forward) == 3 && f.value("packets", cut.reverse) == 1 && cut.endReason == .idleTimeout)
        // left: the successor alone, under the direction's key with the successor mark in its padding
        let left = try f.harness.monitor.flowTable().snapshot()
        #expect(left.count == 1)
        if left.count == 1 {
            var successorKey = key4("198.18.0.1", "198.18.0.2", 6000, 7000, 17).bytes
            successorKey[38] = 1
            #expect(Array(left.key(at: 0)) == successorKey)
        }
        // the next pass moves the successor: one packet of 128 IP bytes (20 + 8 + 100), on its own
        _ = try f.collector.poll(now: now + Self.s / 2, highWater: .max, lowWater: .max)
        #expect(f.collector.lastKernelReport?.successorDirections == 1)
        #expect(f.flows.flows.count == 2)
        let successor = try #require(f.flows.flows.last)
        #expect(successor.forward.key == key4("198.18.0.1", "198.18.0.2", 6000, 7000, 17) && successor.reverse == nil)
        #expect(f.value("packets", successor.forward) == 1 && f.value("bytes", successor.forward) == 128)
        #expect(f.value("first_seen", successor.forward) == now)
        // quiet 0.5 s < idle 1 s: the flow went on (active timeout); nothing left anywhere
        #expect(successor.endReason == .activeTimeout)
        _ = try f.collector.flushAll(reason: .forced)
        #expect(f.flows.flows.count == 2)
    }

    @Test func theIdlestFlowsAreEvictedAboveTheHighWaterMark() throws {
        let f = try Fixture(features: "base", policy: ExpiryPolicy(idleTimeoutNs: 3600 * Self.s))
        let now = 10_000 * Self.s
        // 100 one-way flows, flow i last seen (100 - i) * 10 s ago
        for i in 0..<100 {
            try f.harness.send(Self.udp("198.18.0.1", "198.18.1.\(i)", 1000, 2000), at: now - UInt64(100 - i) * 10 * Self.s)
        }
        let result = try f.collector.poll(now: now, highWater: 90, lowWater: 80)
        // 20 flows must go; chosen by the power of two of their quiet time: the idlest whole groups
        // 46 flows are quiet at least 2^19 units of 2^20 ns (549.8 s): 20 of them go
        #expect(result.evicted == 20, "\(result.evicted)")
        #expect(f.flows.flows.allSatisfy { $0.endReason == .lackOfResources })
        let quietest = f.flows.flows.map { now - (f.value("last_seen", $0.forward) ?? now) }.min() ?? 0
        let left = try f.harness.records().values.map { now - (f.value("last_seen", $0) ?? 0) }.max() ?? 0
        #expect(left <= quietest * 2, "a flow left is at most one power of two less quiet than the ones evicted")
        #expect(try f.harness.records().count == 100 - result.evicted)
    }

    @Test func aFullRingStopsThePassWhichGoesOnAfterEmptyingIt() throws {
        // 200,000 one-way flows written into the table; the ring holds an eighth of the table (4 MiB: 47,662 base records)
        let f = try Fixture(features: "base", maxFlows: 262_144, policy: ExpiryPolicy(idleTimeoutNs: Self.s))
        let table = try f.harness.monitor.flowTable()
        let plan = f.harness.monitor.plan
        let n = 200_000
        var keys = [UInt8](), values = [UInt8](repeating: 0, count: n * table.valueSize)
        keys.reserveCapacity(n * table.keySize)
        let offset = Dictionary(uniqueKeysWithValues: plan.layout.slots.map { ($0.field.name, $0.offset) })
        for i in 0..<n {
            keys += key4("198.18.\(i >> 16).\((i >> 8) & 0xff)", "198.19.0.\(i & 0xff)", 1000, 2000, 17).bytes
            values.withUnsafeMutableBytes { v in
                let base = i * table.valueSize
                v.storeBytes(of: UInt64(i % 7 + 1), toByteOffset: base + offset["packets"]!, as: UInt64.self)
                v.storeBytes(of: UInt64(i), toByteOffset: base + offset["bytes"]!, as: UInt64.self)
                v.storeBytes(of: UInt64(10), toByteOffset: base + offset["first_seen"]!, as: UInt64.self)
                v.storeBytes(of: UInt64(20), toByteOffset: base + offset["last_seen"]!, as: UInt64.self)
            }
        }
        try table.updateBatch(keys: keys, values: values)
        let result = try f.collector.poll(now: 100 * Self.s, highWater: .max, lowWater: .max)
        let report = try #require(f.collector.lastKernelReport)
        #expect(report.ringRefills >= 1, "the ring must have filled: \(report)")
        #expect(result.poll.exported == n && f.flows.flows.count == n)
        #expect(Set(f.flows.flows.map(\.forward.key)).count == n, "every flow once")
        var packets: UInt64 = 0, expected: UInt64 = 0
        for flow in f.flows.flows { packets += f.value("packets", flow.forward) ?? 0 }
        for i in 0..<n { expected += UInt64(i % 7 + 1) }
        #expect(packets == expected)
        #expect(try table.count() == 0)
    }
}

extension KernelPassTests {
    /// A hash map's walk goes on from an element's old `next` after the callback deletes it: when the
    /// callback also deletes the flow's other direction and that one came next in the bucket, the
    /// walk visits it after its deletion. 32 biflows in a table of 64 buckets share a bucket with
    /// their other direction about once in two rounds; 40 rounds must still export every direction once.
    @Test func aDirectionDeletedWithItsPairIsNotMovedAgainByTheWalk() throws {
        let f = try Fixture(features: "base", maxFlows: 64, policy: ExpiryPolicy(idleTimeoutNs: Self.s))
        let table = try f.harness.monitor.flowTable()
        let offset = Dictionary(uniqueKeysWithValues: f.harness.monitor.plan.layout.slots.map { ($0.field.name, $0.offset) })
        var sent = 0
        for round in 0..<40 {
            var keys = [UInt8](), values = [UInt8]()
            for i in 0..<32 {
                let forward = key4("198.18.0.1", "198.18.1.\(i)", UInt16(1000 + round), 2000, 17)
                let reverse = key4("198.18.1.\(i)", "198.18.0.1", 2000, UInt16(1000 + round), 17)
                for (key, packets) in [(forward, UInt64(i + 1)), (reverse, UInt64(100 + i))] {
                    keys += key.bytes
                    var value = [UInt8](repeating: 0, count: table.valueSize)
                    value.withUnsafeMutableBytes { v in
                        v.storeBytes(of: packets, toByteOffset: offset["packets"]!, as: UInt64.self)
                        v.storeBytes(of: UInt64(10), toByteOffset: offset["first_seen"]!, as: UInt64.self)
                        v.storeBytes(of: UInt64(20), toByteOffset: offset["last_seen"]!, as: UInt64.self)
                    }
                    values += value
                }
            }
            try table.updateBatch(keys: keys, values: values)
            sent += 32
            _ = try f.collector.poll(now: UInt64(100 + round) * Self.s, highWater: .max, lowWater: .max)
            #expect(try table.count() == 0, "round \(round): the table is empty after the pass")
        }
        let directions = f.flows.flows.flatMap { [$0.forward.key] + ($0.reverse.map { [$0.key] } ?? []) }
        #expect(f.flows.flows.count == sent, "\(f.flows.flows.count - sent) flows too many")
        #expect(Set(directions).count == directions.count && directions.count == 2 * sent, "every direction once")
        // each flow's two directions together: i + 1 packets one way, 100 + i the other
        #expect(f.flows.flows.allSatisfy { flow in
            let counts = [f.value("packets", flow.forward) ?? 0, f.value("packets", flow.reverse) ?? 0].sorted()
            return flow.reverse != nil && counts[1] == counts[0] + 99
        })
    }
}
