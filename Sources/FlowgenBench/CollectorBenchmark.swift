import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// Section 3: the userland collector over a full kernel table. The map is filled with synthetic
/// flows straight through `FlowTable.updateBatch` (both directions of each biflow, recent
/// timestamps), then timed through the real `FlowCollector`: a pass in which nothing ends (what
/// every poll interval costs with that many active flows); a pass at a time when every flow is
/// idle, which exports them all as JSON lines to /dev/null; the same as IPFIX (an IPFIX file on
/// /dev/null); and the flush at shutdown, which drains the table in one batch walk.
///
/// Each round also times the kernel floor of those passes on the same map: the map system calls
/// alone, with no pairing, decoding or formatting (`measureFloors`), so a missed target can be read
/// against what this machine allows at all in that run.
public final class CollectorBenchmark {
    let context: BenchContext
    /// Issue 7's targets: flows per second on one core, and resident bytes per active flow.
    static let flowsPerSecondTarget = 500_000.0
    static let bytesPerFlowTarget = 200.0

    /// Creates the section.
    public init(context: BenchContext) {
        self.context = context
    }

    /// Measures every available preset.
    public func run() throws -> CollectorBenchResult {
        var entries: [CollectorBenchResult.Entry] = []
        var unavailable: [String: String] = [:]
        for set in context.presetSets {
            guard set.selection != nil else {
                unavailable[set.label] = "not available"
                continue
            }
            do {
                entries.append(try measure(set))
            } catch {
                context.log("collector: \(set.label) failed: \(error)")
                unavailable[set.label] = "failed: \(error)"
            }
        }
        return CollectorBenchResult(entries: entries, unavailable: unavailable)
    }

    func measure(_ set: BenchFeatureSet) throws -> CollectorBenchResult.Entry {
        let options = context.options
        let biflows = options.collectorDirections / 2
        let directions = biflows * 2
        // Room for every direction, as `--max-flows` would be sized for such a table.
        let capacity = directions + directions / 4
        let program = try context.loadMonitor(set, maxFlows: capacity)
        // the passes are `flowgen run`'s: with its default high- and low-water marks (90% and 80%
        // of the table, not reached here), so each pass notes the ages eviction would need
        let (high, low) = CollectorService.Options(interval: 0).marks(capacity: capacity)
        func pass(_ collector: FlowCollector, now: UInt64) throws -> PollResult {
            try collector.poll(now: now, highWater: high, lowWater: low).poll
        }
        guard let plan = program.plan, let table = program.flowTable else { throw BenchError.badFile(set.label, "no plan") }
        let rounds = options.quick ? 1 : 3
        var fill: [Double] = [], active: [Double] = [], export: [Double] = [], format: [Double] = [], ipfix: [Double] = [], flush: [Double] = []
        var passFloor: [Double] = [], flushFloor: [Double] = []
        var kActive: [Double] = [], kExport: [Double] = [], kIPFIX: [Double] = [], kFlush: [Double] = []
        var kPeak = 0
        var twinSeconds: [PassTwin.Layout: [Double]] = [:]
        // the layout twins of the kernel pass, for the presets with its target: loaded once, filled
        // and run once each per round (each holds a table as large as the monitor's)
        let twins = try program.kernelPass.map { kernelPass in
            Self.kernelTargets[set.label] == nil ? [] : try PassTwin.Layout.allCases.map {
                try context.floors.passTwin($0, keyBytes: table.keySize, recordBytes: plan.layout.size, directions: capacity, ringBytes: kernelPass.ringBytes)
            }
        } ?? []
        var peakActive = 0, peakExport = 0, retained = 0, jsonBytes = 0
        for round in 0..<rounds {
            let label = "collector: \(set.label), round \(round + 1)/\(rounds)"
            context.log("\(label): filling \(directions) directions")
            var now = MonotonicClock.nowNs()
            var t = Date()
            try fillTable(table, plan: plan, biflows: biflows, now: now)
            fill.append(Date().timeIntervalSince(t))

            let exporter = try NullFlowExporter(plan: plan)
            let collector = FlowCollector(plan: plan, source: TableFlowSource(table), exporter: exporter)
            let baseline = ResidentMemory.current()
            ResidentMemory.resetPeak()
            context.log("\(label): pass with every flow active")
            t = Date()
            let first = try pass(collector, now: now + 1_000_000_000)
            active.append(Date().timeIntervalSince(t))
            peakActive = Swift.max(peakActive, ResidentMemory.peak() - baseline)
            guard first.entries == directions, first.exported == 0 else {
                throw BenchError.badFile("collector pass", "saw \(first.entries) directions and exported \(first.exported), expected \(directions) and 0")
            }

            ResidentMemory.resetPeak()
            context.log("\(label): pass that exports every flow as JSON lines")
            let formatBefore = exporter.formatSeconds
            t = Date()
            let second = try pass(collector, now: now + 3_600_000_000_000)
            export.append(Date().timeIntervalSince(t))
            format.append(exporter.formatSeconds - formatBefore)
            peakExport = Swift.max(peakExport, ResidentMemory.peak() - baseline)
            retained = Swift.max(retained, ResidentMemory.current() - baseline)
            try expectEmpty(table, exported: second.exported, biflows: biflows)
            jsonBytes = exporter.bytes
            try exporter.close()

            context.log("\(label): pass that exports every flow as IPFIX")
            now = MonotonicClock.nowNs()
            try fillTable(table, plan: plan, biflows: biflows, now: now)
            let ipfixExporter = try IPFIXExporter(plan: plan, destination: .file(path: "/dev/null"), epochOffsetNs: { MonotonicClock.epochOffsetNs() })
            let ipfixCollector = FlowCollector(plan: plan, source: TableFlowSource(table), exporter: ipfixExporter)
            t = Date()
            let third = try pass(ipfixCollector, now: now + 3_600_000_000_000)
            ipfix.append(Date().timeIntervalSince(t))
            try ipfixExporter.close()
            try expectEmpty(table, exported: third.exported, biflows: biflows)

            context.log("\(label): flush of every (active) flow as JSON lines")
            try fillTable(table, plan: plan, biflows: biflows, now: MonotonicClock.nowNs())
            let flushExporter = try NullFlowExporter(plan: plan)
            let flushCollector = FlowCollector(plan: plan, source: TableFlowSource(table), exporter: flushExporter)
            t = Date()
            let flushed = try flushCollector.flushAll(reason: .forced)
            flush.append(Date().timeIntervalSince(t))
            try flushExporter.close()
            try expectEmpty(table, exported: flushed, biflows: biflows)

            let floors = try measureFloors(table, plan: plan, biflows: biflows, label: label)
            passFloor.append(floors.pass)
            flushFloor.append(floors.flush)

            if let kernelPass = program.kernelPass {
                let k = try measureKernelPath(kernelPass, table: table, plan: plan, biflows: biflows, high: high, low: low, label: label)
                kActive.append(k.active)
                kExport.append(k.export)
                kIPFIX.append(k.ipfix)
                kFlush.append(k.flush)
                kPeak = Swift.max(kPeak, k.peak)
            }
            for twin in twins {
                twinSeconds[twin.layout, default: []].append(try measureTwin(twin, table: table, plan: plan, biflows: biflows, label: label))
            }
        }
        let hasKernel = !kExport.isEmpty
        func rate(_ samples: [Double]) -> Double { Double(biflows) / Swift.max(BenchSamples(samples).median, 1e-9) }
        var entry = CollectorBenchResult.Entry(preset: set.label, directions: directions, biflows: biflows, recordBytes: plan.layout.size,
                     fillSeconds: BenchSamples(fill), activePassSeconds: BenchSamples(active), exportPassSeconds: BenchSamples(export),
                     formatSeconds: BenchSamples(format), flowsPerSecond: rate(export),
                     ipfixPassSeconds: BenchSamples(ipfix), ipfixFlowsPerSecond: rate(ipfix),
                     flushSeconds: BenchSamples(flush), flushFlowsPerSecond: rate(flush),
                     passFloorSeconds: BenchSamples(passFloor), passFloorFlowsPerSecond: rate(passFloor),
                     flushFloorSeconds: BenchSamples(flushFloor), flushFloorFlowsPerSecond: rate(flushFloor),
                     jsonBytesPerFlow: Double(jsonBytes) / Double(biflows),
                     peakBytesPerActiveFlow: Double(peakActive) / Double(biflows),
                     peakBytesPerExportedFlow: Double(peakExport) / Double(biflows),
                     retainedBytesPerFlow: Double(Swift.max(retained, 0)) / Double(biflows),
                     flowsPerSecondTarget: Self.flowsPerSecondTarget, bytesPerFlowTarget: Self.bytesPerFlowTarget)
        if hasKernel {
            entry.kernelActivePassSeconds = BenchSamples(kActive)
            entry.kernelExportPassSeconds = BenchSamples(kExport)
            entry.kernelFlowsPerSecond = rate(kExport)
            entry.kernelIPFIXPassSeconds = BenchSamples(kIPFIX)
            entry.kernelIPFIXFlowsPerSecond = rate(kIPFIX)
            entry.kernelFlushSeconds = BenchSamples(kFlush)
            entry.kernelFlushFlowsPerSecond = rate(kFlush)
            entry.kernelPeakBytesPerExportedFlow = Double(kPeak) / Double(biflows)
            entry.kernelFlowsPerSecondTarget = Self.kernelTargets[set.label]
        }
        if let seconds = twinSeconds[.perDirection] {
            entry.twinPerDirectionSeconds = BenchSamples(seconds)
            entry.twinPerDirectionFlowsPerSecond = rate(seconds)
        }
        if let seconds = twinSeconds[.perBiflow] {
            entry.twinPerBiflowSeconds = BenchSamples(seconds)
            entry.twinPerBiflowFlowsPerSecond = rate(seconds)
        }
        return entry
    }

    /// Issue 18's targets for the kernel path, biflows per second (JSON, IPFIX and flush).
    static let kernelTargets: [String: Double] = ["base": 1_000_000, "seed": 600_000]

    /// The kernel path on the same table: a pass in which nothing ends, a pass that ends every
    /// flow as JSON lines, the same as IPFIX, and the flush; each through a `FlowCollector` whose
    /// flows end in the kernel (`KernelFlowPass`), seconds each, and the peak resident growth of
    /// the JSON pass.
    func measureKernelPath(_ kernelPass: KernelFlowPass, table: FlowTable, plan: Plan, biflows: Int, high: Int, low: Int,
                           label: String) throws -> (active: Double, export: Double, ipfix: Double, flush: Double, peak: Int) {
        func collector(_ exporter: FlowExporter) -> FlowCollector {
            let c = FlowCollector(plan: plan, source: TableFlowSource(table), exporter: exporter)
            c.kernelEnding = kernelPass
            return c
        }
        context.log("\(label): kernel pass with every flow active, then one that exports every flow as JSON lines")
        var now = MonotonicClock.nowNs()
        try fillTable(table, plan: plan, biflows: biflows, now: now)
        let exporter = try NullFlowExporter(plan: plan)
        let json = collector(exporter)
        var t = Date()
        let first = try json.poll(now: now + 1_000_000_000, highWater: high, lowWater: low).poll
        let active = Date().timeIntervalSince(t)
        guard first.entries == biflows * 2, first.exported == 0 else {
            throw BenchError.badFile("kernel pass", "saw \(first.entries) directions and exported \(first.exported), expected \(biflows * 2) and 0")
        }
        let baseline = ResidentMemory.current()
        ResidentMemory.resetPeak()
        t = Date()
        let second = try json.poll(now: now + 3_600_000_000_000, highWater: high, lowWater: low).poll
        let export = Date().timeIntervalSince(t)
        let peak = ResidentMemory.peak() - baseline
        try exporter.close()
        try expectEmpty(table, exported: second.exported, biflows: biflows)

        context.log("\(label): kernel pass that exports every flow as IPFIX")
        now = MonotonicClock.nowNs()
        try fillTable(table, plan: plan, biflows: biflows, now: now)
        let ipfixExporter = try IPFIXExporter(plan: plan, destination: .file(path: "/dev/null"), epochOffsetNs: { MonotonicClock.epochOffsetNs() })
        t = Date()
        let third = try collector(ipfixExporter).poll(now: now + 3_600_000_000_000, highWater: high, lowWater: low).poll
        let ipfix = Date().timeIntervalSince(t)
        try ipfixExporter.close()
        try expectEmpty(table, exported: third.exported, biflows: biflows)

        context.log("\(label): kernel flush of every (active) flow as JSON lines")
        try fillTable(table, plan: plan, biflows: biflows, now: MonotonicClock.nowNs())
        let flushExporter = try NullFlowExporter(plan: plan)
        t = Date()
        let flushed = try collector(flushExporter).flushAll(reason: .forced)
        let flush = Date().timeIntervalSince(t)
        try flushExporter.close()
        try expectEmpty(table, exported: flushed, biflows: biflows)
        return (active, export, ipfix, flush, Swift.max(peak, 0))
    }

    /// One run of a layout twin of the kernel pass (`PassTwin`) over the synthetic flows, seconds;
    /// fails unless it gave out every flow it was given, both directions each, and left its table empty.
    func measureTwin(_ twin: PassTwin, table: FlowTable, plan: Plan, biflows: Int, label: String) throws -> Double {
        context.log("\(label): kernel pass twin, \(twin.layout.rawValue)")
        let flows = syntheticFlows(plan: plan, biflows: biflows, now: MonotonicClock.nowNs(), keySize: table.keySize)
        try twin.fill(keys: flows.keys, values: flows.values)
        let run = try twin.run()
        let left = try twin.table.count()
        guard run.flows == biflows, run.directions == biflows * 2, left == 0 else {
            throw BenchError.checkFailed("kernel pass twin, \(twin.layout.rawValue)",
                                         "gave out \(run.flows) flows (\(run.directions) directions) and left \(left) entries, expected \(biflows) flows (\(biflows * 2) directions) and 0")
        }
        return run.seconds
    }

    /// The kernel floor of the passes, in seconds, on the table the passes use: for the JSON/IPFIX
    /// pass the chunked batch walk the pass makes (`FlowTable.walk`, its buffers reused), each chunk's
    /// keys deleted in one `deleteBatch(keys:)` right after it is read (bucket order, the cheapest for
    /// the kernel; the pass deletes one export batch at a time), and, after filling again, `drain()`
    /// for the flush. The calls the collector makes, on the same entries, and nothing else: no pass
    /// can be faster than this on this machine.
    func measureFloors(_ table: FlowTable, plan: Plan, biflows: Int, label: String) throws -> (pass: Double, flush: Double) {
        context.log("\(label): kernel floor of the pass (chunked batch read, batch delete of each chunk's keys)")
        try fillTable(table, plan: plan, biflows: biflows, now: MonotonicClock.nowNs())
        var keys = [UInt8]()
        keys.reserveCapacity(table.chunkSize * table.keySize)
        var read = 0
        var t = Date()
        try table.walk(deleting: false) { entries in
            keys.removeAll(keepingCapacity: true)
            keys.append(contentsOf: UnsafeRawBufferPointer(start: entries.keys, count: entries.count * entries.keySize))
            try table.deleteBatch(keys: keys)
            read += entries.count
        }
        let pass = Date().timeIntervalSince(t)
        try expectEmpty(table, what: "kernel floor of the pass", directions: read, biflows: biflows)

        context.log("\(label): kernel floor of the flush (lookup-and-delete batch walk)")
        try fillTable(table, plan: plan, biflows: biflows, now: MonotonicClock.nowNs())
        t = Date()
        let drained = try table.drain()
        let flush = Date().timeIntervalSince(t)
        try expectEmpty(table, what: "kernel floor of the flush", directions: drained.count, biflows: biflows)
        return (pass, flush)
    }

    /// Fails the measurement unless the pass exported every biflow and left the table empty.
    func expectEmpty(_ table: FlowTable, exported: Int, biflows: Int) throws {
        let left = try table.count()
        guard exported == biflows, left == 0 else {
            throw BenchError.badFile("collector pass", "exported \(exported) flows and left \(left) directions, expected \(biflows) and 0")
        }
    }

    /// Fails a floor measurement unless it read both directions of every biflow and left the table
    /// empty: a floor over fewer entries, or one that left entries behind, would flatter the kernel.
    func expectEmpty(_ table: FlowTable, what: String, directions: Int, biflows: Int) throws {
        let left = try table.count()
        guard directions == biflows * 2, left == 0 else {
            throw BenchError.badFile(what, "read \(directions) directions and left \(left), expected \(biflows * 2) and 0")
        }
    }

    /// Puts `biflows` TCP and UDP conversations (both directions) in the map, every field given a
    /// plausible value of its type: counters small, timestamps a few seconds before `now`.
    func fillTable(_ table: FlowTable, plan: Plan, biflows: Int, now: UInt64) throws {
        let flows = syntheticFlows(plan: plan, biflows: biflows, now: now, keySize: table.keySize)
        try table.updateBatch(keys: flows.keys, values: flows.values)
    }

    /// The keys and records `fillTable` puts in a table of `keySize`-byte keys (the bytes past the
    /// 40 of `FlowKey` stay zero): directions 2j and 2j+1 are biflow j's, the client's direction first.
    func syntheticFlows(plan: Plan, biflows: Int, now: UInt64, keySize: Int) -> (keys: [UInt8], values: [UInt8]) {
        let size = plan.layout.size
        var keys = [UInt8](repeating: 0, count: biflows * 2 * keySize)
        var values = [UInt8](repeating: 0, count: biflows * 2 * size)
        for j in 0..<biflows {
            let client = IPAddress16(ipv4: [198, 18 | UInt8((j >> 16) & 1), UInt8((j >> 8) & 0xFF), UInt8(j & 0xFF)])
            let server = IPAddress16(ipv4: [198, 19, 255, 1])
            let proto: UInt8 = j % 2 == 0 ? 6 : 17
            let port = UInt16(1024 + (j >> 17))
            let forward = FlowKey(src: client, dst: server, sport: port, dport: 443, proto: proto, ipVersion: 4)
            let reverse = FlowKey(src: server, dst: client, sport: 443, dport: port, proto: proto, ipVersion: 4)
            for (d, key) in [forward, reverse].enumerated() {
                let index = j * 2 + d
                keys.replaceSubrange(index * keySize..<index * keySize + FlowKey.byteSize, with: key.bytes)
                values.withUnsafeMutableBytes { raw in
                    let record = raw.baseAddress! + index * size
                    for slot in plan.layout.slots {
                        for e in 0..<slot.field.count {
                            let v = Self.syntheticValue(slot.field, element: e, flow: j, now: now)
                            let at = record + slot.offset + e * slot.field.type.size
                            switch slot.field.type {
                            case .u8: at.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
                            case .u16: at.storeBytes(of: UInt16(truncatingIfNeeded: v), as: UInt16.self)
                            case .u32: at.storeBytes(of: UInt32(truncatingIfNeeded: v), as: UInt32.self)
                            case .u64: at.storeBytes(of: v, as: UInt64.self)
                            }
                        }
                    }
                }
            }
        }
        return (keys, values)
    }

    static func syntheticValue(_ field: FieldSpec, element: Int, flow: Int, now: UInt64) -> UInt64 {
        switch field.name {
        case "first_seen": return now - 10_000_000_000
        case "last_seen": return now - 1_000_000_000
        case "tcp_flags": return 0x18 // ACK|PSH: open connections, not ended by FIN/RST
        default: break
        }
        switch field.unit {
        case .timestamp: return now - 5_000_000_000
        case .packets: return UInt64(1 + flow % 1000)
        case .octets: return UInt64(60 + (flow % 1000) * 700)
        case .flags: return 0x10
        default: return UInt64((flow &* 7 &+ element &* 13) % 200 + 1) & field.type.max
        }
    }
}
