import Testing
@testable import FlowgenCore
@testable import FlowgenTestSupport

/// The store of directions waiting for their reverse, against a plain model (a queue of waiting
/// entries per key), and the collector's walks over a table handed out in chunks against the same
/// walk over the whole table at once.
@Suite struct UnpairedDirectionsTests {
    typealias Words = FlowPairing.Words

    /// Random holds and takes over a small key pool (equal keys wait together; the index grows from
    /// 1,024 cells past 8,192 entries): each take returns the first waiting entry of that key, with
    /// its key, times, place and record (when one was kept); the leftovers come out of `takeAll`.
    /// Also with buffers reserved large enough to be mapped on huge pages from the start, and with
    /// records large enough that their buffer grows from ordinary memory into a mapping.
    @Test(arguments: [(nil, 24), (600_000, 24), (nil, 512)] as [(Int?, Int)])
    func takesTheFirstWaitingEntryOfAKeyAsAQueueWould(capacityHint: Int?, valueSize: Int) {
        var g = SplitMix64(seed: 0xD1EC7)
        let store = UnpairedDirections(keySize: FlowKey.byteSize, valueSize: valueSize, capacityHint: capacityHint)
        // keys and their reverses, which share a hash and so a probe run: a take must skip the other direction's entries
        let half = (0..<1_500).map { _ in FlowPairingTests.randomKey(&g) }
        let pool = half + half.map { $0.reversed(icmpKeyed: false) }
        var model: [FlowKey: [(position: Int, first: UInt64, record: [UInt8]?)]] = [:]
        var waiting = 0
        for position in 0..<60_000 {
            let key = pool[Int(g.next() % UInt64(pool.count))]
            let words = key.bytes.withUnsafeBytes { Words($0.baseAddress!) }
            let hash = UnpairedDirections.cellHash(words, icmpKeyed: false)
            // hold more than take while the store fills, then take more than hold
            let holding = g.next() % 100 < (position < 30_000 ? 70 : 35)
            if holding {
                let first = g.next()
                let record: [UInt8]? = g.next() % 2 == 0 ? (0..<valueSize).map { _ in UInt8(truncatingIfNeeded: g.next()) } : nil
                key.bytes.withUnsafeBytes { k in
                    if let record {
                        record.withUnsafeBytes { store.hold(key: k.baseAddress!, hash: hash, record: $0.baseAddress, times: .init(first: first, last: 2, flags: 3), position: position) }
                    } else {
                        store.hold(key: k.baseAddress!, hash: hash, record: nil, times: .init(first: first, last: 2, flags: 3), position: position)
                    }
                }
                model[key, default: []].append((position, first, record))
                waiting += 1
            } else {
                let taken = store.take(words, hash: hash)
                guard let expected = model[key]?.first else {
                    #expect(taken == nil, "nothing waits under \(key)")
                    continue
                }
                model[key]!.removeFirst()
                waiting -= 1
                guard let slot = taken else {
                    Issue.record("\(key) waits but was not found")
                    continue
                }
                #expect(Array(UnsafeRawBufferPointer(start: store.key(slot), count: FlowKey.byteSize)) == key.bytes)
                #expect(store.position(slot) == expected.position && store.times(slot).first == expected.first)
                #expect(store.record(slot).map { Array(UnsafeRawBufferPointer(start: $0, count: valueSize)) } == expected.record)
                store.release(slot)
            }
            #expect(store.count == waiting)
        }
        #expect(store.peak > 8_192, "more than 8,192 waited at once (an index of 1,024 cells grew)")
        let left = store.takeAll().map { store.position($0) }.sorted()
        #expect(left == model.values.flatMap { $0.map(\.position) }.sorted())
        #expect(store.count == 0)
    }

    /// A table that hands its entries to a walk `chunk` at a time, in a fixed order, as a kernel map
    /// does (and removes what it reads when draining).
    final class ChunkedTable: FlowTableSource {
        let inner: MemoryFlowTable
        let chunk: Int
        init(_ inner: MemoryFlowTable, chunk: Int) { (self.inner, self.chunk) = (inner, chunk) }
        func read() throws -> FlowSnapshot { try inner.read() }
        func remove(key: [UInt8]) throws -> [UInt8]? { try inner.remove(key: key) }
        func walk(draining: Bool, _ body: (FlowEntries) throws -> Void) throws {
            let keys = inner.entries.keys.sorted { $0.lexicographicallyPrecedes($1) }
            var start = 0
            while start < keys.count {
                let run = keys[start..<min(start + chunk, keys.count)]
                start += chunk
                let values = run.compactMap { inner.entries[$0] }
                if draining { for key in run { inner.entries[key] = nil } }
                let snapshot = FlowSnapshot(keySize: FlowKey.byteSize, valueSize: inner.plan.layout.size,
                                            keys: run.flatMap { $0 }, values: values.flatMap { $0 })
                try FlowEntries.withEntries(of: snapshot, body)
            }
        }
    }

    /// A table of flows that end in every way (idle, FIN on both sides, RST on one, active timeout,
    /// one-way, ICMP echo) and of active ones, some quiet for over a second, some busy.
    static func mixedTable(_ plan: Plan, flows: Int, seed: UInt64) -> MemoryFlowTable {
        var g = SplitMix64(seed: seed)
        let table = MemoryFlowTable(plan: plan)
        let second: UInt64 = 1_000_000_000
        let now = 10_000 * second
        var made = 0
        while made < flows {
            let key = FlowPairingTests.randomKey(&g)
            let reverse = key.reversed(icmpKeyed: true)
            guard reverse != key, table.entries[key.bytes] == nil, table.entries[reverse.bytes] == nil else { continue }
            made += 1
            let ages: [UInt64] = [0, second / 2, 2 * second, 100 * second], allFlags: [UInt64] = [0x10, 0x11, 0x14, 0x18]
            let last: UInt64 = now - ages[Int(g.next() % 4)]
            let first: UInt64 = g.next() % 5 == 0 ? now - 3_000 * second : last - second
            let flags: UInt64 = allFlags[Int(g.next() % 4)]
            let packets: UInt64 = 1 + g.next() % 9
            table.put(key, ["packets": packets, "first_seen": first, "last_seen": last, "tcp_flags": flags])
            if g.next() % 4 != 0 {
                let reverseLast: UInt64 = last - g.next() % 2
                let reverseFlags: UInt64 = g.next() % 2 == 0 ? flags : 0x10
                table.put(reverse, ["packets": packets + 1, "first_seen": first + 1, "last_seen": reverseLast, "tcp_flags": reverseFlags])
            }
        }
        return table
    }

    @Test(arguments: [1, 3, 64, 100_000]) func aPassOverChunksEndsAndRemovesWhatAPassOverTheWholeTableDoes(chunk: Int) throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp")
        let now: UInt64 = 10_000 * 1_000_000_000
        var results: [[String]] = [], lefts: [Set<[UInt8]>] = [], polls: [PollResult] = []
        for chunked in [false, true] {
            let table = Self.mixedTable(plan, flows: 2_000, seed: 0xC4B)
            let out = CapturingExporter()
            let source: FlowTableSource = chunked ? ChunkedTable(table, chunk: chunk) : table
            let collector = FlowCollector(plan: plan, source: source, exporter: out)
            collector.exportBatch = 50
            polls.append(try collector.poll(now: now))
            // flows by their keys, reason and values: the order follows the walk's
            results.append(out.flows.map { "\($0.forward.key) \(String(describing: $0.reverse?.key)) \($0.endReason) \($0.forward.values) \(String(describing: $0.reverse?.values))" }.sorted())
            lefts.append(Set(table.entries.keys))
        }
        #expect(polls[0] == polls[1])
        #expect(polls[0].exported > 500 && polls[0].active > 500, "\(polls[0])")
        #expect(results[0] == results[1])
        #expect(lefts[0] == lefts[1])
    }

    @Test func aPassKeepsRecordsOnlyOfDirectionsThatMayEnd() throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp")
        let second: UInt64 = 1_000_000_000
        let table = MemoryFlowTable(plan: plan)
        for i in 0..<1_000 {
            let a = tcpKey("198.18.\(i / 200).\(i % 200)", 40_000, "198.19.0.1", 443)
            table.put(a, ["packets": 3, "first_seen": 100 * second, "last_seen": 200 * second, "tcp_flags": 0x18])
            table.put(a.reversed(icmpKeyed: true), ["packets": 3, "first_seen": 100 * second, "last_seen": 200 * second, "tcp_flags": 0x18])
        }
        let collector = FlowCollector(plan: plan, source: ChunkedTable(table, chunk: 100), exporter: CapturingExporter())
        // every flow active (idle 10 s of 60): directions wait with their times only
        #expect(try collector.poll(now: 210 * second).active == 1_000)
        #expect(collector.lastWalkPeak.waiting > 100 && collector.lastWalkPeak.records == 0, "\(collector.lastWalkPeak)")
        // every flow idle: the first direction of each waits with its record
        #expect(try collector.poll(now: 300 * second).exported == 1_000)
        #expect(collector.lastWalkPeak.records == collector.lastWalkPeak.waiting, "\(collector.lastWalkPeak)")
        #expect(table.entries.isEmpty)
    }

    @Test func theFlushOfAChunkedTableExportsEveryFlowOnce() throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp")
        let table = Self.mixedTable(plan, flows: 1_500, seed: 0xF1)
        let directions = table.entries.count
        let out = CapturingExporter()
        let collector = FlowCollector(plan: plan, source: ChunkedTable(table, chunk: 7), exporter: out)
        collector.exportBatch = 64
        let flushed = try collector.flushAll(reason: .forced)
        #expect(flushed == 1_500 && out.flows.count == 1_500)
        #expect(out.flows.reduce(0) { $0 + ($1.reverse == nil ? 1 : 2) } == directions)
        #expect(Set(out.flows.map(\.id)).count == 1_500)
        #expect(table.entries.isEmpty)
    }
}
