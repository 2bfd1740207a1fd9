import Testing
@testable import FlowgenCore
@testable import FlowgenTestSupport

/// The flat pairing against `FlowKey.reversed` (the readable definition), and the collector's
/// choice between batch removal (quiet flows) and removal one by one (busy flows).
@Suite struct FlowPairingTests {
    let plan: Plan
    init() throws { plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp") }

    /// A random key: IPv4 or IPv6, TCP/UDP with random ports or ICMP/ICMPv6 with paired and unpaired types.
    static func randomKey(_ g: inout SplitMix64) -> FlowKey {
        let v6 = g.next() % 3 == 0
        func address() -> IPAddress16 {
            v6 ? IPAddress16((0..<16).map { _ in UInt8(truncatingIfNeeded: g.next()) })
               : IPAddress16(ipv4: [198, 18 | UInt8(g.next() & 1), UInt8(truncatingIfNeeded: g.next()), UInt8(truncatingIfNeeded: g.next() % 4)])
        }
        let src = address(), dst = address()
        switch g.next() % 4 {
        case 0:
            let types: [UInt8] = v6 ? [128, 129, 133, 134, 135, 136, 1] : [8, 0, 13, 14, 15, 16, 17, 18, 3, 11]
            let type = types[Int(g.next() % UInt64(types.count))]
            return FlowKey(src: src, dst: dst, sport: UInt16(truncatingIfNeeded: g.next()), dport: UInt16(type) << 8 | UInt16(g.next() % 2),
                           proto: v6 ? 58 : 1, ipVersion: v6 ? 6 : 4)
        default:
            return FlowKey(src: src, dst: dst, sport: UInt16(truncatingIfNeeded: g.next() % 70), dport: UInt16(truncatingIfNeeded: g.next() % 70),
                           proto: g.next() % 2 == 0 ? 6 : 17, ipVersion: v6 ? 6 : 4)
        }
    }

    @Test(arguments: [true, false]) func rawReversalIsTheKeysReversal(icmpKeyed: Bool) {
        var g = SplitMix64(seed: 0x5EED)
        for _ in 0..<20_000 {
            let key = Self.randomKey(&g)
            let raw = key.bytes.withUnsafeBytes { FlowPairing.Words($0.baseAddress!) }
            let expected = key.reversed(icmpKeyed: icmpKeyed).bytes.withUnsafeBytes { FlowPairing.Words($0.baseAddress!) }
            #expect(raw.reversed(icmpKeyed: icmpKeyed) == expected, "\(key)")
        }
    }

    /// A key and its reverse hash alike (so they share a probe run in the index of waiting
    /// directions), and the hash still spreads: distinct keys seldom share one.
    @Test(arguments: [true, false]) func aKeyAndItsReverseHashAlike(icmpKeyed: Bool) {
        var g = SplitMix64(seed: 0x5A3E)
        var seen: [UInt64: FlowKey] = [:], collisions = 0
        for _ in 0..<20_000 {
            let key = Self.randomKey(&g)
            let raw = key.bytes.withUnsafeBytes { FlowPairing.Words($0.baseAddress!) }
            let hash = FlowPairing.hash(raw, icmpKeyed: icmpKeyed)
            #expect(FlowPairing.hash(raw.reversed(icmpKeyed: icmpKeyed), icmpKeyed: icmpKeyed) == hash, "\(key)")
            let canonical = min(key, key.reversed(icmpKeyed: icmpKeyed))
            if let other = seen.updateValue(canonical, forKey: hash), other != canonical { collisions += 1 }
        }
        #expect(collisions == 0, "\(collisions) distinct flows share a 64-bit hash")
    }

    /// ICMP request/reply halves (RFC 792, RFC 4443, RFC 4861), as the tables they replaced listed them.
    @Test func icmpTypesPairAsTheRFCsDefine() {
        let v4: [(UInt8, UInt8)] = [(8, 0), (13, 14), (15, 16), (17, 18)], v6: [(UInt8, UInt8)] = [(128, 129), (133, 134), (135, 136)]
        for isV6 in [false, true] {
            let pairs = isV6 ? v6 : v4
            for type in UInt8.min...UInt8.max {
                let peer = pairs.first { $0.0 == type }?.1 ?? pairs.first { $0.1 == type }?.0
                #expect(FlowKey.icmpPeerType(type, v6: isV6) == peer, "type \(type), v6 \(isV6)")
                #expect(FlowKey.isICMPReplyType(type, v6: isV6) == pairs.contains { $0.1 == type }, "type \(type), v6 \(isV6)")
            }
        }
    }

    @Test func everyEntryLandsInExactlyOnePairWithItsReverse() throws {
        var g = SplitMix64(seed: 0xB1F)
        let table = MemoryFlowTable(plan: plan)
        var expected: [FlowKey: FlowKey?] = [:] // forward → reverse
        while table.entries.count < 6_000 {
            let key = Self.randomKey(&g)
            let reverse = key.reversed(icmpKeyed: true)
            guard reverse != key, table.entries[key.bytes] == nil, table.entries[reverse.bytes] == nil else { continue }
            table.put(key, ["first_seen": 100, "last_seen": 200])
            if g.next() % 3 != 0 {
                table.put(reverse, ["first_seen": 150, "last_seen": 200])
                expected[key] = reverse
            } else {
                expected[key] = .some(nil)
            }
        }
        let snapshot = try table.read()
        let pairs = FlowPairing(decoder: RecordDecoder(plan: plan)).pairs(snapshot, recordSize: plan.layout.size)
        var seen = Set<Int32>()
        var found: [FlowKey: FlowKey?] = [:]
        for pair in pairs {
            #expect(seen.insert(pair.forward).inserted)
            if pair.reverse >= 0 { #expect(seen.insert(pair.reverse).inserted) }
            let forward = snapshot.key(at: Int(pair.forward)).withUnsafeBytes { FlowKey(bytes: $0) }
            let reverse = pair.reverse < 0 ? nil : snapshot.key(at: Int(pair.reverse)).withUnsafeBytes { FlowKey(bytes: $0) }
            found[forward] = .some(reverse)
        }
        #expect(seen.count == snapshot.count)
        #expect(found == expected) // the earlier first_seen is always the initiator
    }

    /// Pairing as a walk hands entries out (each takes its waiting reverse, or waits) gives exactly
    /// the pairs of the whole-snapshot loop it replaced, in the same order, for groups of read-ahead
    /// cut anywhere, ties on the first packet, keys that are their own reverse, and keys listed
    /// twice (no kernel map does, but a snapshot may come from anywhere).
    @Test func pairingAsAWalkPairsExactlyAsTheReferenceLoop() throws {
        var g = SplitMix64(seed: 0x9A1)
        for plan in [plan, try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "base")] {
            let decoder = RecordDecoder(plan: plan)
            let pairing = FlowPairing(decoder: decoder)
            let reference = ReferenceFlowPairing(pairing: pairing)
            let first = try #require(decoder.firstColumn["first_seen"].map { decoder.columns[$0] })
            for count in [0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 1_000, 20_000] {
                var keys: [[UInt8]] = []
                while keys.count < count {
                    let key = Self.randomKey(&g)
                    switch g.next() % 10 {
                    case 0: keys.append(key.bytes)                                        // one way
                    case 1: keys.append(FlowKey(src: key.src, dst: key.src, sport: key.sport, dport: key.sport,
                                                proto: key.proto, ipVersion: key.ipVersion).bytes) // its own reverse
                    case 2 where !keys.isEmpty: keys.append(keys[Int(g.next() % UInt64(keys.count))]) // listed twice
                    default: keys += [key.bytes, key.reversed(icmpKeyed: pairing.icmpKeyed).bytes]
                    }
                }
                keys = Array(keys.prefix(count))
                for i in keys.indices.reversed() { keys.swapAt(i, Int(g.next() % UInt64(i + 1))) }
                var values = [UInt8](repeating: 0, count: count * plan.layout.size)
                values.withUnsafeMutableBytes { raw in
                    for i in 0..<count {
                        // few distinct times, so that ties (broken on the keys) are common
                        raw.storeBytes(of: g.next() % 4, toByteOffset: i * plan.layout.size + first.offset, as: UInt64.self)
                    }
                }
                let snapshot = FlowSnapshot(keySize: FlowKey.byteSize, valueSize: plan.layout.size, keys: keys.flatMap { $0 }, values: values)
                #expect(pairing.pairs(snapshot, recordSize: plan.layout.size) == reference.pairs(snapshot, recordSize: plan.layout.size),
                        "\(count) entries")
            }
        }
    }

    @Test func tiesAreBrokenByTheKeysNotByTheOrderOfTheTable() throws {
        // both directions seen at the same instant: the initiator must not depend on which one the
        // table lists first (a kernel map's order changes from run to run)
        let pairing = FlowPairing(decoder: RecordDecoder(plan: plan))
        let cases: [(FlowKey, FlowKey)] = [
            (udpKey("198.18.0.9", 500, "198.18.0.1", 500), udpKey("198.18.0.1", 500, "198.18.0.9", 500)),      // same ports: lower address
            (udpKey("198.18.0.1", 40000, "198.18.0.9", 53), udpKey("198.18.0.9", 53, "198.18.0.1", 40000)),    // higher source port
            (icmpKey("198.18.0.9", "198.18.0.1", type: 0, id: 7), icmpKey("198.18.0.1", "198.18.0.9", type: 8, id: 7)), // the request
            (icmpKey("198.18.0.9", "198.18.0.1", type: 3, id: 0), icmpKey("198.18.0.1", "198.18.0.9", type: 3, id: 0)), // unpaired type: lower address
        ]
        for (a, b) in cases {
            var initiators: Set<FlowKey> = []
            for order in [[a, b], [b, a]] {
                let table = MemoryFlowTable(plan: plan)
                for key in order { table.put(key, ["first_seen": 100, "last_seen": 100]) }
                var keys: [UInt8] = [], values: [UInt8] = []
                for key in order { keys += key.bytes; values += table.entries[key.bytes]! }
                let snapshot = FlowSnapshot(keySize: FlowKey.byteSize, valueSize: plan.layout.size, keys: keys, values: values)
                let pairs = pairing.pairs(snapshot, recordSize: plan.layout.size)
                try #require(pairs.count == 1 && pairs[0].reverse >= 0, "\(a) and \(b) were not paired")
                initiators.insert(snapshot.key(at: Int(pairs[0].forward)).withUnsafeBytes { FlowKey(bytes: $0) })
            }
            #expect(initiators.count == 1, "\(a) / \(b): the initiator depends on the order: \(initiators)")
            let expected = a.proto == 1 && a.dport >> 8 == 0 ? b : (a.sport != b.sport ? (a.sport > b.sport ? a : b) : b)
            #expect(initiators.first == expected, "\(a) / \(b)")
        }
    }

    /// A table that lists its entries in a given order.
    final class OrderedTable: FlowTableSource {
        let inner: MemoryFlowTable
        var order: [[UInt8]]
        init(_ inner: MemoryFlowTable, order: [[UInt8]]) { self.inner = inner; self.order = order }
        func read() throws -> FlowSnapshot {
            let keys = order.filter { inner.entries[$0] != nil }
            return FlowSnapshot(keySize: FlowKey.byteSize, valueSize: inner.plan.layout.size,
                                keys: keys.flatMap { $0 }, values: keys.flatMap { inner.entries[$0]! })
        }
        func remove(key: [UInt8]) throws -> [UInt8]? { try inner.remove(key: key) }
    }

    @Test func aPassInFixedOrderNumbersFlowsTheSameWhateverTheTablesOrder() throws {
        // 40 flows ending at once, exported 7 at a time: without a fixed order the batches (and
        // the FLOW_IDs) follow the order the table lists the entries in
        var g = SplitMix64(seed: 0x0DE)
        let memory = MemoryFlowTable(plan: plan)
        for i in 0..<40 {
            let key = tcpKey("198.18.0.\(i % 7 + 1)", UInt16(1000 + i), "198.18.1.1", 80)
            memory.put(key, ["packets": 1, "first_seen": second * UInt64(1 + i % 3), "last_seen": 5 * second])
            if i % 2 == 0 { memory.put(key.reversed(icmpKeyed: true), ["packets": 1, "first_seen": 2 * second, "last_seen": 5 * second]) }
        }
        var fixedFlows: [Biflow] = []
        for fixed in [true, false] {
            var results: [[String]] = []
            for _ in 0..<3 {
                var order = Array(memory.entries.keys)
                for i in order.indices.reversed() { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
                let copy = MemoryFlowTable(plan: plan)
                copy.entries = memory.entries
                let out = CapturingExporter()
                let collector = FlowCollector(plan: plan, source: OrderedTable(copy, order: order), exporter: out,
                                              policy: ExpiryPolicy(idleTimeoutNs: 60 * second))
                collector.exportBatch = 7
                collector.ordersEndedFlows = fixed
                #expect(try collector.flushAll(reason: .endOfCapture) == 40)
                results.append(out.flows.map { "\($0.id) \($0.forward.key)" })
                if fixed { fixedFlows = out.flows }
            }
            if fixed {
                #expect(results[0] == results[1] && results[1] == results[2])
            } else {
                #expect(results[0] != results[1] || results[1] != results[2], "the table's order shows without a fixed order")
            }
        }
        // by flow start, then by key
        let decoder = RecordDecoder(plan: plan)
        let order = fixedFlows.map { flow in
            (min(decoder.value("first_seen", in: flow.forward) ?? 0, flow.reverse.flatMap { decoder.value("first_seen", in: $0) } ?? .max), flow.forward.key)
        }
        #expect(zip(order, order.dropFirst()).allSatisfy { a, b in a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) })
        #expect(fixedFlows.map(\.id) == Array(1...40))
    }

    func udpKey(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) -> FlowKey {
        func address(_ s: String) -> IPAddress16 { IPAddress16(ipv4: s.split(separator: ".").map { UInt8($0)! }) }
        return FlowKey(src: address(src), dst: address(dst), sport: sport, dport: dport, proto: 17, ipVersion: 4)
    }

    func icmpKey(_ src: String, _ dst: String, type: UInt8, id: UInt16) -> FlowKey {
        func address(_ s: String) -> IPAddress16 { IPAddress16(ipv4: s.split(separator: ".").map { UInt8($0)! }) }
        return FlowKey(src: address(src), dst: address(dst), sport: id, dport: UInt16(type) << 8, proto: 1, ipVersion: 4)
    }

    /// Counts how the collector removes entries.
    final class CountingTable: FlowTableSource {
        let inner: MemoryFlowTable
        var single = 0, batched = 0
        init(_ inner: MemoryFlowTable) { self.inner = inner }
        func read() throws -> FlowSnapshot { try inner.read() }
        func remove(key: [UInt8]) throws -> [UInt8]? {
            single += 1
            return try inner.remove(key: key)
        }
        func removeAll(keys: [UInt8], keySize: Int) throws {
            batched += keys.count / keySize
            for i in 0..<(keys.count / keySize) { _ = try inner.remove(key: Array(keys[(i * keySize)..<((i + 1) * keySize)])) }
        }
    }

    @Test func quietFlowsGoInOneBatchBusyOnesOneByOne() throws {
        let memory = MemoryFlowTable(plan: plan)
        let idle = tcpKey("198.18.0.1", 1000, "198.18.0.2", 80)
        memory.put(idle, ["packets": 1, "first_seen": 1 * second, "last_seen": 2 * second])
        memory.put(idle.reversed(icmpKeyed: true), ["packets": 1, "first_seen": 1 * second + 1, "last_seen": 2 * second])
        let busy = tcpKey("198.18.0.1", 1001, "198.18.0.2", 80)
        memory.put(busy, ["packets": 9, "first_seen": 1 * second, "last_seen": 200 * second])
        let table = CountingTable(memory)
        let out = CapturingExporter()
        let collector = FlowCollector(plan: plan, source: table, exporter: out,
                                      policy: ExpiryPolicy(idleTimeoutNs: 60 * second, activeTimeoutNs: 100 * second))
        collector.exportBatch = 1
        let result = try collector.poll(now: 200 * second + 1)
        #expect(result.exported == 2)
        #expect(table.batched == 2) // the idle flow's two directions
        #expect(table.single == 1) // the busy flow, with its value at removal
        #expect(memory.entries.isEmpty)
        #expect(Set(out.flows.map(\.endReason)) == [.idleTimeout, .activeTimeout])
        #expect(out.flows.map(\.id) == [1, 2])
    }

    /// A table that lists its entries in a given order and records every batch removal.
    final class RecordingTable: FlowTableSource {
        let inner: MemoryFlowTable
        let order: [[UInt8]]
        var batches: [[[UInt8]]] = []
        init(_ inner: MemoryFlowTable, order: [[UInt8]]) { self.inner = inner; self.order = order }
        func read() throws -> FlowSnapshot { try OrderedTable(inner, order: order).read() }
        func remove(key: [UInt8]) throws -> [UInt8]? { try inner.remove(key: key) }
        func removeAll(keys: [UInt8], keySize: Int) throws {
            let batch = (0..<(keys.count / keySize)).map { Array(keys[($0 * keySize)..<(($0 + 1) * keySize)]) }
            batches.append(batch)
            for key in batch { _ = try inner.remove(key: key) }
        }
    }

    /// Notes how many entries the table still held at each export.
    final class WatchingExporter: FlowExporter {
        let table: MemoryFlowTable
        var flows: [Biflow] = []
        var entriesAtExport: [Int] = []
        init(_ table: MemoryFlowTable) { self.table = table }
        func export(_ flows: [Biflow]) throws {
            entriesAtExport.append(table.entries.count)
            self.flows += flows
        }
        func close() throws {}
    }

    @Test func eachBatchsQuietFlowsAreRemovedInTheTablesOrderJustBeforeItIsExported() throws {
        var g = SplitMix64(seed: 0x0BDE)
        let memory = MemoryFlowTable(plan: plan)
        for i in 0..<30 {
            let key = tcpKey("198.18.0.\(i % 5 + 1)", UInt16(2000 + i), "198.18.1.1", 443)
            memory.put(key, ["packets": 1, "first_seen": 1 * second, "last_seen": 2 * second])
            if i % 3 != 0 { memory.put(key.reversed(icmpKeyed: true), ["packets": 1, "first_seen": 2 * second, "last_seen": 2 * second]) }
        }
        var order = Array(memory.entries.keys)
        for i in order.indices.reversed() { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        let table = RecordingTable(memory, order: order)
        let out = WatchingExporter(memory)
        let collector = FlowCollector(plan: plan, source: table, exporter: out, policy: ExpiryPolicy(idleTimeoutNs: 60 * second))
        collector.exportBatch = 4
        #expect(try collector.poll(now: 100 * second).exported == 30)
        #expect(out.flows.map(\.id) == Array(1...30))
        // one removal per exported batch, holding that batch's directions in the table's order
        #expect(table.batches.count == 8)
        for (batch, removed) in table.batches.enumerated() {
            let flows = out.flows[(batch * 4)..<min(batch * 4 + 4, 30)]
            let directions = Set(flows.flatMap { [$0.forward.key.bytes] + ($0.reverse.map { [$0.key.bytes] } ?? []) })
            #expect(Set(removed) == directions, "batch \(batch)")
            #expect(removed.map { position[$0]! } == removed.map { position[$0]! }.sorted(), "batch \(batch) in the table's order")
        }
        // each batch leaves the table just before its export: a failed export loses one batch, not the pass
        let remaining = table.batches.indices.map { b in order.count - table.batches[...b].map(\.count).reduce(0, +) }
        #expect(out.entriesAtExport == remaining)
        #expect(memory.entries.isEmpty)
    }
}
